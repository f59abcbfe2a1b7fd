.PHONY: test lint bench fuzz run
test:
	go test -race ./...
lint:
	@out=$$(gofmt -l .); if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	go vet ./...
	go tool staticcheck ./...
bench:
	go test -run '^$$' -bench . -benchtime 2s ./...
# fuzz runs every fuzz target of every package for FUZZTIME each (make fuzz FUZZTIME=5m for longer).
# Inputs that fail are kept by go test in <package>/testdata/fuzz/<FuzzName>; commit them: every
# go test then runs them as seeds.
FUZZTIME ?= 20s
fuzz:
	@set -e; for pkg in $$(go list ./...); do \
	  for fz in $$(go test -list '^Fuzz' $$pkg | grep '^Fuzz' || true); do \
	    echo "== $$pkg $$fz ($(FUZZTIME))"; \
	    go test -run '^$$' -fuzz "^$$fz\$$" -fuzztime $(FUZZTIME) $$pkg; \
	  done; \
	done
run:
	go run ./cmd/freezeledger serve --data-dir ./data
