# gort: build, test, benchmark, install.
#
#   make              release libgort.a + libgort.so, regenerates include/runtime.h
#   make check        every test (Rust + C, static, shared, dlopen, valgrind)
#   make example      builds and runs examples/demo.c
#   make bench        benchmarks, gort beside Go 1.19
#   make install PREFIX=/usr/local
#   make clean

PREFIX  ?= /usr/local
LIBDIR  ?= $(PREFIX)/lib
INCDIR  ?= $(PREFIX)/include
CARGO   ?= cargo
CC      ?= gcc
CFLAGS  ?= -O2 -g -std=c11 -fstack-clash-protection -Wall -Wextra -pedantic -Werror
REL      = target/release
VERSION  = $(shell sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -1)

.PHONY: all lib check example bench install clean

all: lib

lib:
	$(CARGO) build --release
	@bash tools/finish_staticlib.sh $(REL)/libgort.a
	@ln -sf libgort.so $(REL)/libgort.so.0

check:
	@bash c-tests/check.sh

example: lib
	$(CC) $(CFLAGS) -D_GNU_SOURCE -Iinclude examples/demo.c $(REL)/libgort.a -lpthread -ldl -lm -o $(REL)/demo
	$(REL)/demo

bench: lib
	@bash benches/run.sh

gort.pc: Cargo.toml
	@printf '%s\n' \
	  'prefix=$(PREFIX)' 'libdir=$(LIBDIR)' 'includedir=$(INCDIR)' '' \
	  'Name: gort' 'Description: Go-style goroutines, channels and handles for C' \
	  'Version: $(VERSION)' 'Cflags: -I$${includedir} -fstack-clash-protection' \
	  'Libs: -L$${libdir} -lgort' 'Libs.private: -lpthread -ldl -lm' > $(REL)/gort.pc

install: lib gort.pc
	install -d $(DESTDIR)$(LIBDIR) $(DESTDIR)$(INCDIR) $(DESTDIR)$(LIBDIR)/pkgconfig
	install -m 644 $(REL)/libgort.a $(DESTDIR)$(LIBDIR)/libgort.a
	install -m 755 $(REL)/libgort.so $(DESTDIR)$(LIBDIR)/libgort.so.$(VERSION)
	ln -sf libgort.so.$(VERSION) $(DESTDIR)$(LIBDIR)/libgort.so.0
	ln -sf libgort.so.0 $(DESTDIR)$(LIBDIR)/libgort.so
	install -m 644 include/runtime.h $(DESTDIR)$(INCDIR)/runtime.h
	install -m 644 $(REL)/gort.pc $(DESTDIR)$(LIBDIR)/pkgconfig/gort.pc

clean:
	$(CARGO) clean
	rm -rf build
