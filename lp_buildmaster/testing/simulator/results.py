"""The files a finished simulated build leaves: small valid .debs, the
.buildinfo and a .changes that lists them with their checksums.

Imports nothing of the simulator's.
"""

import email.utils
import gzip
import hashlib
import io
import tarfile


def tarGz(members):
    buf = io.BytesIO()
    with gzip.GzipFile(fileobj=buf, mode="wb", mtime=0) as gz:
        with tarfile.open(fileobj=gz, mode="w",
                          format=tarfile.GNU_FORMAT) as tar:
            for name, data in members:
                if data is None:
                    info = tarfile.TarInfo(name)
                    info.type = tarfile.DIRTYPE
                    info.mode = 0o755
                    tar.addfile(info)
                else:
                    info = tarfile.TarInfo(name)
                    info.size = len(data)
                    info.mode = 0o644
                    tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def makeTemplatesResults(name):
    """The file of an OK translation-templates build, as launchpad-buildd
    names it (its C{resultarchive}): a tarball of one template."""
    pot = ('msgid ""\nmsgstr ""\n"Project-Id-Version: %s\\n"\n'
           '"Content-Type: text/plain; charset=UTF-8\\n"\n' % name)
    return {"translation-templates.tar.gz": tarGz([
        ("po/", None), ("po/%s.pot" % name, pot.encode("utf-8"))])}


def _ar(members):
    out = [b"!<arch>\n"]
    for name, data in members:
        out.append(("%-16s%-12d%-6d%-6d%-8s%-10d`\n" % (
            name, 0, 0, 0, "100644", len(data))).encode("ascii"))
        out.append(data)
        if len(data) % 2:
            out.append(b"\n")
    return b"".join(out)


def makeDeb(package, version, arch, source):
    """The bytes of a small valid .deb (ar: debian-binary, control.tar.gz,
    data.tar.gz)."""
    control = (
        "Package: %s\nSource: %s\nVersion: %s\nArchitecture: %s\n"
        "Maintainer: Simulated Maintainer <sim@example.com>\n"
        "Installed-Size: 1\nSection: misc\nPriority: optional\n"
        "Description: simulated package %s\n built by the lp-buildmaster "
        "farm simulator\n" % (package, source, version, arch, package)
    ).encode("utf-8")
    doc = "./usr/share/doc/%s/" % package
    return _ar([
        ("debian-binary", b"2.0\n"),
        ("control.tar.gz", tarGz([("./control", control)])),
        ("data.tar.gz", tarGz([
            ("./usr/", None), ("./usr/share/", None),
            ("./usr/share/doc/", None), (doc, None),
            (doc + "copyright",
             b"Simulated package from the lp-buildmaster simulator.\n")])),
    ])


def _checksumFields(files):
    """Files/Checksums-Sha1/Checksums-Sha256 entries for C{[(name, data,
    section)]}, as three lists of lines."""
    md5s, sha1s, sha256s = [], [], []
    for name, data, section in files:
        size = len(data)
        md5s.append(" %s %d %s optional %s" % (
            hashlib.md5(data).hexdigest(), size, section, name))
        sha1s.append(" %s %d %s" % (hashlib.sha1(data).hexdigest(), size,
                                    name))
        sha256s.append(" %s %d %s" % (hashlib.sha256(data).hexdigest(), size,
                                      name))
    return md5s, sha1s, sha256s


def makeBinaryResults(source, version, arch, suite, arch_indep=False,
                      date=0.0, build_url=None):
    """The files of an OK binarypackage build: C{{name: bytes}} with a
    C{<source>_<version>_<arch>.changes} that lists the others (the
    .buildinfo and the .debs) with their sizes and md5, sha1, sha256."""
    plain = version.split(":", 1)[-1]
    when = email.utils.formatdate(date, usegmt=True)
    debs = [("%s_%s_%s.deb" % (source, plain, arch),
             makeDeb(source, version, arch, source))]
    binaries = [source]
    archs = [arch]
    if arch_indep:
        debs.append(("%s-doc_%s_all.deb" % (source, plain),
                     makeDeb(source + "-doc", version, "all", source)))
        binaries.append(source + "-doc")
        archs.append("all")
    md5s, sha1s, sha256s = _checksumFields(
        [(n, d, "misc") for n, d in debs])
    buildinfo_name = "%s_%s_%s.buildinfo" % (source, plain, arch)
    buildinfo = "".join([
        "Format: 1.0\n",
        "Source: %s\n" % source,
        "Binary: %s\n" % " ".join(binaries),
        "Architecture: %s\n" % " ".join(archs),
        "Version: %s\n" % version,
        "Checksums-Md5:\n",
        "".join(" %s %s\n" % (hashlib.md5(d).hexdigest(),
                              " ".join(l.split()[1:2] + [n]))
                for (n, d), l in zip(debs, md5s)),
        "Checksums-Sha1:\n", "".join(l + "\n" for l in sha1s),
        "Checksums-Sha256:\n", "".join(l + "\n" for l in sha256s),
        "Build-Origin: Simulated\n",
        "Build-Architecture: %s\n" % arch,
        "Build-Date: %s\n" % when,
        "Build-Path: /build/%s-%s\n" % (source, plain),
        "Installed-Build-Depends:\n debhelper (= 13.11), dpkg-dev (= 1.21)\n",
        "Environment:\n DEB_BUILD_OPTIONS=\"parallel=4\"\n",
    ]).encode("utf-8")
    files = [(buildinfo_name, buildinfo, "misc")] + [
        (n, d, "misc") for n, d in debs]
    md5s, sha1s, sha256s = _checksumFields(files)
    changes_name = "%s_%s_%s.changes" % (source, plain, arch)
    changes = "".join([
        "Format: 1.8\n",
        "Date: %s\n" % when,
        "Source: %s\n" % source,
        "Binary: %s\n" % " ".join(binaries),
        "Architecture: %s\n" % " ".join(archs),
        "Version: %s\n" % version,
        "Distribution: %s\n" % suite,
        "Urgency: medium\n",
        "Maintainer: Simulated Builder <buildd@example.com>\n",
        "Changed-By: Simulated Maintainer <sim@example.com>\n",
        "Description:\n",
        "".join(" %s - simulated package %s\n" % (b, b) for b in binaries),
        "Changes:\n",
        " %s (%s) %s; urgency=medium\n .\n   * Simulated build%s.\n" % (
            source, version, suite,
            (" of %s" % build_url) if build_url else ""),
        "Checksums-Sha1:\n", "".join(l + "\n" for l in sha1s),
        "Checksums-Sha256:\n", "".join(l + "\n" for l in sha256s),
        "Files:\n", "".join(l + "\n" for l in md5s),
    ]).encode("utf-8")
    result = {changes_name: changes}
    for name, data, _ in files:
        result[name] = data
    return result


def sourceOf(dsc_name, dsc_bytes):
    """C{(source, version)} from a .dsc's contents, or else its name
    (C{<source>_<version>.dsc}, the version without its epoch)."""
    base = dsc_name[:-len(".dsc")]
    source, _, version = base.partition("_")
    if dsc_bytes:
        text = dsc_bytes[:65536].decode("utf-8", "replace")
        for line in text.splitlines():
            if line.startswith("Source:") and line[7:].strip():
                source = line[7:].strip()
            elif line.startswith("Version:") and line[8:].strip():
                version = line[8:].strip()
    return source or "unknown", version or "0"
