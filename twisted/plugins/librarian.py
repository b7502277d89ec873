"""The twistd plugin: ``twistd -n librarian``, the librarian on its own."""

from twisted.application.service import IServiceMaker
from twisted.plugin import IPlugin
from zope.interface import implementer


@implementer(IServiceMaker, IPlugin)
class _LibrarianServiceMaker:
    tapname = "librarian"
    description = ("The librarian on its own (storage and HTTP), shared by "
                   "several build masters.")

    @property
    def options(self):
        from lp_buildmaster.librarian.service import Options
        return Options

    def makeService(self, options):
        from lp_buildmaster.librarian.service import makeService
        return makeService(options)


serviceMaker = _LibrarianServiceMaker()
