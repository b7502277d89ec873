"""The dashboard, the JSON API and C{/metrics}, on one web server.

L{makeWebService} is what the master runs; L{makeWebResource} is its
resource tree, for tests.

    /                  the dashboard: processors, builders, queue, recent;
                       the add-a-builder form (admins)
    /builders/<name>   a builder, its history and actions
    /builds            every build, filtered and paged; the
                       request-a-build form (operators, admins)
    /builds/<id>       a build, its logtail live while it runs; /log
    /login, /logout    browser sessions
    /api/...           JSON, reads and actions (L{lp_buildmaster.web.api})
    /metrics           Prometheus text format

Its modules, each importing only those listed after it (and the layers
below the web: actions, the store, the librarian, the model (a builder's
state in one word: model/builderstate.py), formatting):

    pages.py     the pages' resources and the log streamed as text
    api.py       the JSON API's resource: reads and actions
    metrics.py   /metrics, read from the database at each scrape
    views.py     the HTML of each page
    forms.py     the forms that request a build and add a builder
    scripts.py   the pages' scripts (they read the JSON API)
    markup.py    the page frame, escaping, links, forms, errors
    respond.py   parsing requests and answering them, errors to codes
    auth.py      accounts, tokens, sessions and CSRF for a request
    present.py   the farm as the dictionaries the API and pages show
    logtail.py   the end of a finished build's stored log, streamed
    estimate.py  when a waiting job should start
    listening.py a listening port as a service, started all or nothing
"""

from twisted.web import resource, server

from lp_buildmaster.clock import orReactor
from lp_buildmaster.web.api import ApiResource
from lp_buildmaster.web.auth import Authenticator
from lp_buildmaster.web.listening import ListeningService, tcpEndpoint
from lp_buildmaster.web.metrics import FarmGauges, MetricsResource
from lp_buildmaster.web.pages import (
    BuilderPageResource, BuildPageResource, DashboardResource, LoginResource, LogoutResource,
    NotFoundResource)
from lp_buildmaster.web.present import Farm

__all__ = ["makeWebResource", "makeWebService"]


class RootResource(resource.Resource):

    def __init__(self, farm, store, config, master=None):
        resource.Resource.__init__(self)
        auth = Authenticator(store, config)
        self.dashboard = DashboardResource(farm, auth)
        self.children_ = {
            b"builds": BuildPageResource(farm, auth),
            b"builders": BuilderPageResource(farm, auth),
            b"api": ApiResource(farm, auth, store),
            b"login": LoginResource(auth),
            b"logout": LogoutResource(auth),
            b"metrics": MetricsResource(FarmGauges(store, master)),
        }
        self.missing = NotFoundResource()

    def getChild(self, path, request):
        if path == b"" and not request.postpath:
            return self.dashboard
        return self.children_.get(path, self.missing)


class _QuietSite(server.Site):
    """No access log: a build page polls every 2 seconds and would drown
    the master's log."""

    noisy = False

    def log(self, request):
        pass


def makeWebResource(store, config, master=None, clock=None,
                    librarian=None):
    """The resource tree of the web server.

    @param store: a started L{lp_buildmaster.store.Store}; its C{views}
        component is used, or made when it has none.
    @param config: an L{lp_buildmaster.config.Config} (librarian URL).
    @param master: the running master, or None (see L{Farm}).
    @param clock: an C{IReactorTime} for "now"; the reactor by default.
    @param librarian: the master's L{ILibrarianClient}, which logs are
        read through (see L{Farm}).
    """
    return RootResource(Farm(store, config, master=master, clock=clock,
                             librarian=librarian),
                        store, config, master)


def makeWebService(store, config, master=None, clock=None, reactor=None,
                   librarian=None):
    """A service serving L{makeWebResource} on C{[web] interface} and
    C{[web] port} (0 picks a free port; the service's C{port} tells it).
    """
    reactor = orReactor(reactor)
    site = _QuietSite(makeWebResource(store, config, master, clock,
                                      librarian))
    site.displayTracebacks = False
    endpoint = tcpEndpoint(reactor, config.get("web", "port"),
                           config.get("web", "interface"))
    svc = ListeningService(endpoint, site, "dashboard")
    svc.setName("web")
    return svc
