"""The twistd plugin: ``twistd -n buildmaster``."""

from twisted.application.service import IServiceMaker
from twisted.plugin import IPlugin
from zope.interface import implementer


@implementer(IServiceMaker, IPlugin)
class _BuildmasterServiceMaker:
    tapname = "buildmaster"
    description = "Build master for a launchpad-buildd build farm."

    @property
    def options(self):
        from lp_buildmaster.startup import Options
        return Options

    def makeService(self, options):
        from lp_buildmaster.startup import makeService
        return makeService(options)


serviceMaker = _BuildmasterServiceMaker()
