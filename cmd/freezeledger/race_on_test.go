//go:build race

package main

// raceEnabled says the tests run with -race: buildBinary then builds the binary with -race too, so
// that it reuses the packages the test build just compiled instead of compiling them all again.
const raceEnabled = true
