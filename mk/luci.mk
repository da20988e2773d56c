# LuCI app checks (luci-app/), included by the top-level Makefile.
#
#   make test-luci   syntax-check every JS file of the page, then run the
#                    node tests in luci-app/tests/ (logic, packaging, i18n,
#                    no-network, and the view against LuCI test doubles).
#   make luci-pot    regenerate luci-app/po/templates/nftoffload.pot
#
# Needs node >= 18 (its built-in test runner); no npm packages.

# Do not become the default goal when included before the main targets.
luci_saved_default_goal := $(.DEFAULT_GOAL)

NODE ?= node
LUCI_APP_DIR := luci-app
LUCI_JS = $(shell find $(LUCI_APP_DIR)/htdocs $(LUCI_APP_DIR)/tests -name '*.js' | sort)
LUCI_TESTS = $(sort $(wildcard $(LUCI_APP_DIR)/tests/*.test.js))

.PHONY: test-luci luci-node-check luci-pot

luci-node-check:
	@command -v $(NODE) >/dev/null 2>&1 || { \
		echo "test-luci: '$(NODE)' not found; install Node.js >= 18 (e.g. apt-get install nodejs) to check the LuCI app" >&2; \
		exit 1; }
	@$(NODE) -e 'process.exit(+process.versions.node.split(".")[0] >= 18 ? 0 : 1)' || { \
		echo "test-luci: Node.js >= 18 is required (found $$($(NODE) --version))" >&2; \
		exit 1; }

test-luci: luci-node-check
	@set -e; for f in $(LUCI_JS); do $(NODE) --check "$$f"; done; \
		echo "node --check: $(words $(LUCI_JS)) files OK"
	$(NODE) --test $(LUCI_TESTS)

luci-pot: luci-node-check
	$(NODE) $(LUCI_APP_DIR)/tests/i18n.js --write

EXTRA_TESTS += test-luci

.DEFAULT_GOAL := $(luci_saved_default_goal)
