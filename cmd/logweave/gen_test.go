package main

import (
	"flag"
	"io"
	"reflect"
	"testing"

	"github.com/logweave/logweave/gen"
)

// The generator's flags default to gen.DefaultConfig, the same defaults
// logweave dev's generator starts from.
func TestGenFlags_DefaultFromGenDefaultConfig(t *testing.T) {
	t.Setenv("LOGWEAVE_INGEST_TOKEN", "")
	fs := flag.NewFlagSet("gen", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	cfg := gen.DefaultConfig()
	registerGenFlags(fs, &cfg)
	if err := fs.Parse(nil); err != nil {
		t.Fatal(err)
	}
	if want := gen.DefaultConfig(); !reflect.DeepEqual(cfg, want) {
		t.Errorf("flag defaults = %+v\nwant gen.DefaultConfig() = %+v", cfg, want)
	}
	if err := fs.Parse([]string{"--rate", "3", "--error-rate", "0.5"}); err != nil {
		t.Fatal(err)
	}
	if cfg.Rate != 3 || cfg.Rates.Error != 0.5 || cfg.Users != gen.DefaultConfig().Users {
		t.Errorf("after --rate 3 --error-rate 0.5: %+v", cfg)
	}
	dev := devGen{rate: 2, logs: "ndjson", protocol: "http", seed: 7}.config("http://127.0.0.1:1", "")
	if dev.Users != 1000 || dev.Rates != gen.DefaultConfig().Rates || dev.JudgeThreshold != gen.DefaultConfig().JudgeThreshold || dev.Rate != 2 || dev.Seed != 7 {
		t.Errorf("dev's generator config = %+v, want gen's defaults with dev's flags", dev)
	}
}
