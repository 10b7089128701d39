# `make run` and `make test` set up everything they need on a fresh machine.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

JS_STAMP := tests/js/node_modules/.installed
BENCH_STAMP := $(VENV)/.bench-installed
EXAMPLES_JS_STAMP := examples/node_modules/.installed
WEB_DEPS_STAMP := web/node_modules/.installed
WEB_STAMP := web/dist/.built
WEB_API := web/src/_generated/api.d.ts
WEB_SOURCES := web/index.html web/vite.config.js web/tsconfig.json \
	$(shell find web/src -type f -not -path 'web/src/_generated/*' 2>/dev/null)
APP_SOURCES := schema.py $(shell find functions -name '*.py' 2>/dev/null)
DASHBOARD_DEPS_STAMP := dashboard/node_modules/.installed
DASHBOARD_STAMP := dashboard/dist/.built
DASHBOARD_SOURCES := dashboard/index.html dashboard/vite.config.js $(shell find dashboard/src -type f 2>/dev/null)
CHAT_URL ?= http://127.0.0.1:3211

.PHONY: run test bench setup clean example-chat example-python example-node web dashboard browser postgres

$(STAMP): requirements.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements.txt
	$(PY) -m pip install --quiet --disable-pip-version-check --no-deps -e .
	touch $(STAMP)

# The official npm client, for the end-to-end tests that drive it with node.
$(JS_STAMP): tests/js/package.json tests/js/package-lock.json
	cd tests/js && npm ci --no-audit --no-fund --loglevel=error
	touch $(JS_STAMP)

# The npm client for examples/node_client.mjs.
$(EXAMPLES_JS_STAMP): examples/package.json examples/package-lock.json
	cd examples && npm ci --no-audit --no-fund --loglevel=error
	touch $(EXAMPLES_JS_STAMP)

# The shopper page (web/): TypeScript, React + npm `convex`, built by Vite into web/dist,
# which `prefmem dev --web web/dist` serves. Rebuilt only when its sources or the app change.
$(WEB_DEPS_STAMP): web/package.json web/package-lock.json
	cd web && npm ci --no-audit --no-fund --loglevel=error
	touch $(WEB_DEPS_STAMP)

# The page's typed API, written by `prefmem codegen` from the app's validators (not
# committed). Codegen leaves unchanged files alone, so the target is touched for make.
$(WEB_API): $(STAMP) $(APP_SOURCES)
	$(PY) -m prefmem codegen --out web/src/_generated
	touch $(WEB_API)

# tsc checks the page against that API (Vite compiles TypeScript without checking it).
$(WEB_STAMP): $(WEB_DEPS_STAMP) $(WEB_SOURCES) $(WEB_API)
	cd web && npx --no-install tsc --noEmit
	cd web && npx --no-install vite build --logLevel warn
	touch $(WEB_STAMP)

web: $(WEB_STAMP)

# The dashboard (dashboard/): npm `convex` + React as the admin, built by Vite into
# dashboard/dist, which every `prefmem dev` serves at /_dashboard.
$(DASHBOARD_DEPS_STAMP): dashboard/package.json dashboard/package-lock.json
	cd dashboard && npm ci --no-audit --no-fund --loglevel=error
	touch $(DASHBOARD_DEPS_STAMP)

$(DASHBOARD_STAMP): $(DASHBOARD_DEPS_STAMP) $(DASHBOARD_SOURCES)
	cd dashboard && npx --no-install vite build --logLevel warn
	touch $(DASHBOARD_STAMP)

dashboard: $(DASHBOARD_STAMP)

# Debian's chromium, driven headless by the page's end-to-end test (tests/web).
browser:
	@command -v chromium >/dev/null || (apt-get update && apt-get install -y chromium)

# Debian's PostgreSQL server, for the tests that start a throwaway cluster of their own
# (tests/helpers/postgres.py), and pgvector for it when the Debian archive has a build for
# that major version (bookworm has none: vector search on PostgreSQL then uses the exact
# scan). Checked once per venv, so `make test` does not run `apt-get update` every time.
PG_STAMP := $(VENV)/.postgres-installed
$(PG_STAMP): | $(STAMP)
	@ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || \
		(apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y postgresql)
	@major=$$(ls /usr/lib/postgresql | sort -n | tail -1); \
	if [ ! -e /usr/share/postgresql/$$major/extension/vector.control ]; then \
		apt-get update >/dev/null && \
		if apt-cache show postgresql-$$major-pgvector >/dev/null 2>&1; then \
			DEBIAN_FRONTEND=noninteractive apt-get install -y postgresql-$$major-pgvector; \
		else echo "no postgresql-$$major-pgvector in the Debian archive: vector search on PostgreSQL uses the exact scan"; fi; \
	fi
	touch $(PG_STAMP)

postgres: $(PG_STAMP)

setup: $(STAMP)

# The app's catalogue is generated on first start (a no-op once there are products).
run: setup web dashboard
	$(PY) -m prefmem run catalog:seed_if_empty '{}'
	$(PY) -m prefmem run migrations:reason_codes '{}'
	$(PY) -m prefmem dev --host 127.0.0.1 --port 3210 --web web/dist --codegen-out web/src/_generated

test: setup $(JS_STAMP) web dashboard browser postgres
	$(PY) -m pytest -q

# Benchmark-only dependencies (PocketBase for bench/sidebyside), kept out of requirements.txt.
$(BENCH_STAMP): bench/requirements.txt $(STAMP)
	$(PY) -m pip install --quiet --disable-pip-version-check -r bench/requirements.txt
	touch $(BENCH_STAMP)

bench: setup $(BENCH_STAMP) postgres
	$(PY) -m bench

# The chat example app on 127.0.0.1:3211; the two client examples talk to it.
example-chat: setup
	$(PY) -m prefmem dev --functions examples/chat/functions --schema examples/chat/schema.py \
		--db .prefmem/chat.sqlite3 --host 127.0.0.1 --port 3211

example-python: setup
	$(PY) examples/python_client.py --url $(CHAT_URL)

example-node: $(EXAMPLES_JS_STAMP)
	node examples/node_client.mjs $(CHAT_URL)

clean:
	rm -rf $(VENV) .prefmem examples/node_modules web/node_modules web/dist dashboard/node_modules dashboard/dist \
		test-artifacts
