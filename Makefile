# The two commands of the README: `make run` and `make test`.
# Each creates .venv and installs the project into it when missing.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
DEMO ?= 4

.PHONY: run test install clean chromium gnupg swift test-realbuild realbuild-tools

install: $(STAMP)

$(STAMP): setup.cfg pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[test]' --config-settings editable_mode=compat
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/twistd -n buildmaster --demo $(DEMO)

# Headless Chromium for tests/test_browser.py, from Debian's packages
# (needs root); a no-op when it is there already.
chromium:
	test -x /usr/bin/chromium || { apt-get update -q && \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium; }

# gpg exports archive signing keys (buildmaster-admin archive --signing-key)
# and tests/test_admin_world.py reads them back; Debian's gnupg.
gnupg:
	test -x /usr/bin/gpg || { apt-get update -q && \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -q gnupg; }

# A real OpenStack Swift for tests/test_librarian_shared.py (tests/swiftaio.py
# starts it on loopback): Debian's packages and memcached; needs root.
swift:
	{ /usr/bin/python3 -c 'import swift' 2>/dev/null && command -v memcached >/dev/null; } || \
	  { apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
	    swift swift-proxy swift-account swift-container swift-object memcached; }

test: $(STAMP) chromium gnupg swift
	$(BIN)/trial $(TRIAL_ARGS) tests

# The real-build suite (tests/realbuild/suite.py): Debian's sbuild,
# schroot, debootstrap, dpkg-dev and python3-apt, as root; a no-op when
# they are there already.
realbuild-tools:
	test -x /usr/bin/sbuild -a -x /usr/bin/schroot -a -x /usr/sbin/debootstrap \
	  -a -x /usr/bin/dpkg-source -a -x /usr/bin/sudo \
	  -a -n "$$(ls /usr/lib/python3/dist-packages/apt_pkg*.so 2>/dev/null)" || \
	  { apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install \
	    -y -q --no-install-recommends sbuild schroot debootstrap dpkg-dev \
	    python3-apt sudo; }

test-realbuild: $(STAMP) realbuild-tools
	$(BIN)/trial $(TRIAL_ARGS) tests.realbuild.suite

clean:
	rm -rf $(VENV) _trial_temp* var/test-pg
