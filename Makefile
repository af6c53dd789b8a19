# Every target bootstraps its own virtual environment in .venv.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp

.PHONY: demo test fuzz chaos lint typecheck check clean messages

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "mailer needs Python 3.11 or newer")'
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

demo: $(STAMP)
	$(BIN)/mailer demo

# The demo's stack and the web admin on its data until Ctrl-C (README, "Try the web admin").
.PHONY: serve
serve: $(STAMP)
	$(BIN)/mailer demo --serve

test: $(STAMP)
	$(BIN)/python -m pytest

# The API under schemathesis with 100 generated requests per operation (no 5xx);
# `make test` runs the same test with 8.
fuzz: $(STAMP)
	MAILER_TEST_FUZZ_EXAMPLES=100 $(BIN)/python -m pytest -q -k sqlite tests/web/test_api_schemathesis.py

# The fault suite (reliability #17): each scenario sends 2,000 recipients
# through a private PostgreSQL cluster, a private Redis, two workers and beat,
# and injects one fault mid-send (docs/operations.md, "What happens when X
# fails"). About 6 minutes; needs initdb/pg_ctl on PATH and, for the full-disk
# scenario, permission to mount a tmpfs (root). Not part of `make test`.
CHAOS_ARGS ?=
chaos: $(STAMP)
	$(BIN)/python benchmarks/chaos.py $(CHAOS_ARGS)

# Rewrite the English catalogue (mailer/locale/en/LC_MESSAGES/*.po) from the
# code's _() / {% trans %} messages; fill in the empty msgstr lines it leaves.
messages: $(STAMP)
	$(BIN)/python tools/messages.py

# Decorated functions are called by their frameworks (typer, FastAPI, Celery,
# pydantic, SQLAlchemy events, pytest); tools/vulture_allowlist.py lists the rest.
VULTURE_DECORATORS := @*.command,@*.get,@*.post,@*.put,@*.patch,@*.delete,@*.api_route,@router.*,@app.*,@*.task,@field_validator,@model_validator,@*.listens_for,@*.callback,@*.connect,@*.exception_handler,@*.middleware,@pytest.fixture,@*.hookimpl
VULTURE_NAMES := handle_*,model_config,_on_*,broker_*,isolation_level,__test__,signum,frame,pytest_*,test_*,rcpt_options,should_exit,host_name,__doc__

lint: $(STAMP)
	$(BIN)/ruff check mailer workers tests benchmarks tools
	$(BIN)/python tools/import_cycles.py
	@# tests and benchmarks count as users of the code; dead code is reported in mailer/ and workers/
	@out=$$($(BIN)/vulture mailer workers tests benchmarks tools/vulture_allowlist.py \
	  --min-confidence 60 --exclude mailer/migrations \
	  --ignore-decorators '$(VULTURE_DECORATORS)' --ignore-names '$(VULTURE_NAMES)' \
	  | grep -Ev '^(tests|benchmarks)/'); \
	if [ -n "$$out" ]; then echo "$$out"; echo "dead code (see tools/vulture_allowlist.py)"; exit 1; fi

typecheck: $(STAMP)
	$(BIN)/mypy mailer workers

check: lint typecheck test

clean:
	rm -rf var .pytest_cache .mypy_cache .ruff_cache
