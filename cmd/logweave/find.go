package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	es "github.com/elastic/go-elasticsearch/v8"

	"github.com/logweave/logweave/find"
)

func runFind(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("logweave find", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var (
		q            find.Query
		opt          find.Options
		urls, apiKey string
		asJSON       bool
		timeout      time.Duration
	)
	fs.StringVar(&q.SubmitID, "submit", "", "submission id")
	fs.StringVar(&q.User, "user", "", "user id (with --seq)")
	fs.IntVar(&q.Seq, "seq", 0, "the user's n-th submission (with --user)")
	fs.StringVar(&q.TraceID, "trace", "", "trace id (hex)")
	fs.StringVar(&urls, "es", "http://127.0.0.1:9200", "comma-separated Elasticsearch URLs")
	fs.StringVar(&apiKey, "api-key", os.Getenv("LOGWEAVE_ES_API_KEY"), "Elasticsearch API key (default $LOGWEAVE_ES_API_KEY)")
	fs.StringVar(&opt.Index, "index", "logweave-*", "index pattern to search")
	fs.DurationVar(&opt.Slow, "slow", 10*time.Second, "flag spans longer than this as SLOW")
	fs.StringVar(&opt.KibanaURL, "kibana-url", "http://127.0.0.1:5601", "Kibana base URL for the link to the saved search logweave-one-submission")
	fs.StringVar(&opt.GrafanaURL, "grafana-url", "http://127.0.0.1:3000", "Grafana base URL for the link to the dashboard logweave-submission")
	fs.BoolVar(&asJSON, "json", false, "print JSON")
	fs.DurationVar(&timeout, "timeout", 10*time.Second, "give up after this long")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: logweave find (--submit ID | --user U --seq N | --trace ID) [flags]\n\nPrints a submission's span waterfall with each log line under its span, from Elasticsearch.\n\nflags:")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return parseFailed(err)
	}
	cl, err := es.NewClient(es.Config{Addresses: splitComma(urls), APIKey: apiKey})
	if err != nil {
		fmt.Fprintf(stderr, "logweave find: %v\n", err)
		return 2
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	tl, err := find.Fetch(ctx, cl, q, opt)
	switch {
	case errors.Is(err, find.ErrNoQuery):
		fmt.Fprintf(stderr, "logweave find: %v\n", err)
		return 2
	case err != nil && !errors.Is(err, find.ErrNotFound):
		fmt.Fprintf(stderr, "logweave find: %v\n", err)
		return 1
	}
	if asJSON {
		if err := find.WriteJSON(stdout, tl); err != nil {
			return 1
		}
	} else {
		find.WriteText(stdout, tl)
	}
	if errors.Is(err, find.ErrNotFound) {
		return 1
	}
	return 0
}
