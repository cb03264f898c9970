# gort: build, test, benchmark, install.
#
#   make              release libgort.a + libgort.so, regenerates include/runtime.h
#   make check        every test (Rust + C, static, shared, dlopen, valgrind, packaging)
#   make example      builds and runs the programs in examples/
#   make bench        benchmarks, gort beside Go 1.19
#   make man          man pages from the header's doc comments, in build/man
#   make install PREFIX=/usr/local [DESTDIR=...]
#   make uninstall PREFIX=/usr/local [DESTDIR=...]   removes what install put there
#   make dist         build/gort-VERSION.tar.gz, the tracked files (git archive)
#   make clean

PREFIX       ?= /usr/local
LIBDIR       ?= $(PREFIX)/lib
INCDIR       ?= $(PREFIX)/include
DATADIR      ?= $(PREFIX)/share
MANDIR       ?= $(DATADIR)/man
DOCDIR       ?= $(DATADIR)/doc/gort
SUPPDIR      ?= $(DATADIR)/gort
PKGCONFIGDIR ?= $(LIBDIR)/pkgconfig
CMAKEDIR     ?= $(LIBDIR)/cmake/gort
DISTDIR      ?= build
CARGO   ?= cargo
CC      ?= gcc
PYTHON  ?= python3
CFLAGS  ?= -O2 -g -std=c11 -fstack-clash-protection -Wall -Wextra -pedantic -Werror
REL      = target/release
VERSION  = $(shell sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -1)
VMAJOR   = $(word 1,$(subst ., ,$(VERSION)))
VMINOR   = $(word 2,$(subst ., ,$(VERSION)))

# Everything `make install` writes, relative to $(DESTDIR); `make
# uninstall` removes exactly these, then the directories that are gort's
# own if they are empty.
INSTALLED = $(LIBDIR)/libgort.a $(LIBDIR)/libgort.so.$(VERSION) $(LIBDIR)/libgort.so.0 \
            $(LIBDIR)/libgort.so $(LIBDIR)/gort/static/libgort.a $(INCDIR)/gort/runtime.h \
            $(PKGCONFIGDIR)/gort.pc $(PKGCONFIGDIR)/gort-static.pc \
            $(CMAKEDIR)/gortConfig.cmake $(CMAKEDIR)/gortConfigVersion.cmake \
            $(DOCDIR)/README.md $(DOCDIR)/LICENSE-MIT $(DOCDIR)/LICENSE-APACHE \
            $(DOCDIR)/docs/trace.svg $(SUPPDIR)/gort.supp
OWN_DIRS  = $(INCDIR)/gort $(LIBDIR)/gort/static $(LIBDIR)/gort $(CMAKEDIR) $(DOCDIR)/docs $(DOCDIR) $(SUPPDIR)
# man3/<page>.3 and man7/gort.7, relative to build/man and $(MANDIR).
MANPAGES  = $(shell $(PYTHON) tools/man_pages.py --list)

.PHONY: all lib check example bench man pkgfiles install uninstall dist clean

all: lib

lib:
	$(CARGO) build --release
	@bash tools/finish_staticlib.sh $(REL)/libgort.a
	@ln -sf libgort.so $(REL)/libgort.so.0

check:
	@bash c-tests/check.sh

# Builds and runs each example; every one checks its own result. All run,
# then the target fails if any failed to build or run.
EXAMPLES = demo worker_pool pipeline callbacks panic_recover echo_server http_server request_timeout

example: lib
	@failed=; for e in $(EXAMPLES); do \
	  echo "==== examples/$$e.c"; \
	  if $(CC) $(CFLAGS) -D_GNU_SOURCE -Iinclude examples/$$e.c $(REL)/libgort.a \
	       -lpthread -ldl -lm -o $(REL)/$$e && $(REL)/$$e; then :; \
	  else echo "==== examples/$$e.c FAILED"; failed="$$failed $$e"; fi; \
	done; \
	if [ -n "$$failed" ]; then echo "==== failed:$$failed"; exit 1; fi; \
	echo "==== all $(words $(EXAMPLES)) examples passed"

bench: lib
	@bash benches/run.sh

# One page per function or family, .so links for the other names of a
# family, and gort(7), from the header's doc comments (and README.md's
# introduction for gort(7)).
man:
	@$(PYTHON) tools/man_pages.py --out build/man

# pkg-config and CMake files for this PREFIX, in build/pkg. The .pc files
# name libdir and includedir through ${prefix} when they lie under it; the
# CMake files find everything relative to their own directory.
pkgfiles:
	@mkdir -p build/pkg
	@for f in gort.pc gort-static.pc gortConfig.cmake gortConfigVersion.cmake; do \
	  sed -e 's|@PREFIX@|$(PREFIX)|g' \
	      -e 's|@LIBDIR@|$(patsubst $(PREFIX)/%,$${prefix}/%,$(LIBDIR))|g' \
	      -e 's|@INCDIR@|$(patsubst $(PREFIX)/%,$${prefix}/%,$(INCDIR))|g' \
	      -e 's|@SUPPDIR@|$(patsubst $(PREFIX)/%,$${prefix}/%,$(SUPPDIR))|g' \
	      -e 's|@VERSION@|$(VERSION)|g' -e 's|@VERSION_MAJOR@|$(VMAJOR)|g' \
	      -e 's|@VERSION_MINOR@|$(VMINOR)|g' \
	      -e "s|@CMAKE_TO_LIBDIR@|$$(realpath -m --relative-to='$(CMAKEDIR)' '$(LIBDIR)')|g" \
	      -e "s|@CMAKE_TO_INCDIR@|$$(realpath -m --relative-to='$(CMAKEDIR)' '$(INCDIR)')|g" \
	      -e "s|@CMAKE_TO_SUPPDIR@|$$(realpath -m --relative-to='$(CMAKEDIR)' '$(SUPPDIR)')|g" \
	      pkg/$$f.in > build/pkg/$$f || exit 1; \
	done

install: lib pkgfiles man
	install -d '$(DESTDIR)$(LIBDIR)/gort/static' '$(DESTDIR)$(INCDIR)/gort' \
	  '$(DESTDIR)$(PKGCONFIGDIR)' '$(DESTDIR)$(CMAKEDIR)' '$(DESTDIR)$(DOCDIR)/docs' '$(DESTDIR)$(SUPPDIR)' \
	  '$(DESTDIR)$(MANDIR)/man3' '$(DESTDIR)$(MANDIR)/man7'
	install -m 644 $(REL)/libgort.a '$(DESTDIR)$(LIBDIR)/libgort.a'
	install -m 755 $(REL)/libgort.so '$(DESTDIR)$(LIBDIR)/libgort.so.$(VERSION)'
	ln -sf libgort.so.$(VERSION) '$(DESTDIR)$(LIBDIR)/libgort.so.0'
	ln -sf libgort.so.0 '$(DESTDIR)$(LIBDIR)/libgort.so'
	ln -sf ../../libgort.a '$(DESTDIR)$(LIBDIR)/gort/static/libgort.a'
	install -m 644 include/runtime.h '$(DESTDIR)$(INCDIR)/gort/runtime.h'
	install -m 644 build/pkg/gort.pc build/pkg/gort-static.pc '$(DESTDIR)$(PKGCONFIGDIR)'
	install -m 644 build/pkg/gortConfig.cmake build/pkg/gortConfigVersion.cmake '$(DESTDIR)$(CMAKEDIR)'
	install -m 644 README.md LICENSE-MIT LICENSE-APACHE '$(DESTDIR)$(DOCDIR)'
	install -m 644 docs/trace.svg '$(DESTDIR)$(DOCDIR)/docs'
	install -m 644 gort.supp '$(DESTDIR)$(SUPPDIR)'
	install -m 644 $(addprefix build/man/,$(filter man3/%,$(MANPAGES))) '$(DESTDIR)$(MANDIR)/man3'
	install -m 644 $(addprefix build/man/,$(filter man7/%,$(MANPAGES))) '$(DESTDIR)$(MANDIR)/man7'

uninstall:
	rm -f $(addprefix '$(DESTDIR),$(addsuffix ',$(INSTALLED) $(addprefix $(MANDIR)/,$(MANPAGES))))
	@for d in $(OWN_DIRS); do [ ! -d "$(DESTDIR)$$d" ] || rmdir "$(DESTDIR)$$d" 2>/dev/null || true; done

# The tracked files (as they are in the work tree, uncommitted changes
# included), under gort-VERSION/; nothing untracked.
dist:
	@git rev-parse --git-dir >/dev/null 2>&1 || { echo "make dist: needs a git checkout" >&2; exit 1; }
	@mkdir -p '$(DISTDIR)'
	@tree=$$(git stash create) || exit 1; \
	  [ -z "$$tree" ] || echo "make dist: includes uncommitted changes to tracked files" >&2; \
	  git archive --format=tar.gz --prefix=gort-$(VERSION)/ -o '$(DISTDIR)/gort-$(VERSION).tar.gz' $${tree:-HEAD}
	@echo '$(DISTDIR)/gort-$(VERSION).tar.gz'

clean:
	$(CARGO) clean
	rm -rf build
