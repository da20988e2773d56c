# OpenWrt packages without the OpenWrt SDK (included by the top-level
# Makefile). See openwrt/README.md for the SDK build.
#
#   make package            static binaries + ipks for all targets, and the
#                           LuCI app, into dist/
#   make package-aarch64    one target (x86_64, aarch64, armv7, mipsel, luci)
#   make package-deps       install the toolchains (idempotent)
#   make test-package       package checks (builds the aarch64 ipk and runs
#                           the aarch64 unit tests under qemu)
#
# PACKAGE_TARGETS picks the targets of `make package`; PACKAGE_TEST_TARGETS
# the targets whose unit tests test-package runs (armv7 and mipsel add
# several minutes each); PACKAGE_BUILD_STD="x86_64 aarch64" builds those two
# with std from source too, for smaller binaries (see scripts/package/lib.sh).

# Do not become the default goal when included before the main targets.
package_saved_default_goal := $(.DEFAULT_GOAL)

PACKAGE_TARGETS ?= x86_64 aarch64 armv7 mipsel
PACKAGE_TEST_TARGETS ?= aarch64

.PHONY: package package-deps test-package package-x86_64 package-aarch64 \
	package-armv7 package-mipsel package-luci

package:
	scripts/package/deps.sh $(PACKAGE_TARGETS)
	rm -f dist/build-report.txt dist/*.ipk
	scripts/package/build.sh $(PACKAGE_TARGETS) luci
	@cat dist/build-report.txt

package-deps:
	scripts/package/deps.sh $(PACKAGE_TARGETS)

package-x86_64 package-aarch64 package-armv7 package-mipsel:
	scripts/package/deps.sh $(@:package-%=%)
	scripts/package/build.sh $(@:package-%=%)

package-luci:
	scripts/package/build.sh luci

test-package:
	scripts/package/deps.sh aarch64 $(PACKAGE_TEST_TARGETS)
	scripts/package/build.sh aarch64 luci
	PACKAGE_TEST_TARGETS="$(PACKAGE_TEST_TARGETS)" tests/package/run.sh

EXTRA_TESTS += test-package

.DEFAULT_GOAL := $(package_saved_default_goal)
