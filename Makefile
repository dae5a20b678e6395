# The two set-up commands of the README, and a few helpers.
.PHONY: deploy test lint destroy

# Deploy the bundled app onto a local sandbox host and print where it answers.
deploy:
	scripts/deploy

# Run every test: unit tests, lint, app unit tests, every Molecule scenario.
test:
	scripts/test

lint:
	scripts/bootstrap
	.venv/bin/yamllint --strict .
	PATH="$(CURDIR)/.venv/bin:$$PATH" ansible-lint
	.venv/bin/python scripts/role-docs --check

# Remove the sandbox host.
destroy:
	docker rm -f flask-sandbox

# Benchmark: creates bench-* hosts, deploys, measures, writes bench/results.md and bench/results.png.
.PHONY: bench
bench:
	scripts/bench
