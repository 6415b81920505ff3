// Package stackcheck holds only tests: they check the deployment artifacts
// at the top of the repository against the parsers of the tools that read
// them and against logweave's own code (its subcommands, its
// configuration loader, the metrics its roles register). Run with
// `make stackcheck` (CI runs it).
package stackcheck
