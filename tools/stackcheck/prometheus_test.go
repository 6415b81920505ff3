package stackcheck

import (
	"log/slog"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/config"
	"github.com/prometheus/prometheus/discovery"
	"github.com/prometheus/prometheus/model/rulefmt"
	"github.com/prometheus/prometheus/promql/parser"
)

var promql = parser.NewParser(parser.Options{})

// selectors returns the metric names and matcher label names of expr.
func selectors(t *testing.T, expr string) (map[string][]string, error) {
	t.Helper()
	e, err := promql.ParseExpr(expr)
	if err != nil {
		return nil, err
	}
	out := map[string][]string{}
	parser.Inspect(e, func(n parser.Node, _ []parser.Node) error {
		if vs, ok := n.(*parser.VectorSelector); ok {
			var labels []string
			for _, m := range vs.LabelMatchers {
				if m.Name != "__name__" {
					labels = append(labels, m.Name)
				}
			}
			out[vs.Name] = append(out[vs.Name], labels...)
		}
		return nil
	})
	return out, nil
}

func TestPrometheus_RulesParseAndQueryRealMetrics(t *testing.T) {
	path := filepath.Join(root, "deploy/prometheus/alerts.yml")
	groups, errs := rulefmt.ParseFile(path, false, model.UTF8Validation, promql, slog.New(slog.DiscardHandler))
	for _, err := range errs {
		t.Errorf("promtool-equivalent check: %v", err)
	}
	if groups == nil {
		t.FailNow()
	}
	metrics := roleMetrics(t)
	alerts := map[string]bool{}
	for _, g := range groups.Groups {
		for _, r := range g.Rules {
			alerts[r.Alert] = true
			sels, err := selectors(t, r.Expr)
			if err != nil {
				t.Errorf("%s: %v", r.Alert, err)
				continue
			}
			for name, labels := range sels {
				if err := checkSelector(metrics, name, labels); err != nil {
					t.Errorf("alert %s: %v", r.Alert, err)
				}
			}
		}
	}
	// What docs/operations.md says to alert on.
	for _, a := range []string{"LogweaveSinkLagGrowing", "LogweaveSinkDeadLettering", "LogweaveEnrichOldestPendingHigh", "LogweaveEnrichTransactionsAborting", "LogweaveSinkRetrying"} {
		if !alerts[a] {
			t.Errorf("no alert %s", a)
		}
	}
}

func TestPrometheus_ScrapesEveryLogweaveService(t *testing.T) {
	cfg, err := config.LoadFile(filepath.Join(root, "deploy/prometheus/prometheus.yml"), false, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatalf("prometheus.yml: %v", err)
	}
	var scraped []string
	// The static targets, read back from the parsed configuration.
	for _, sc := range cfg.ScrapeConfigs {
		if sc.JobName != "logweave" {
			continue
		}
		for _, sd := range sc.ServiceDiscoveryConfigs {
			for _, tg := range staticGroups(sd) {
				scraped = append(scraped, tg...)
			}
		}
	}
	var want []string
	p := loadCompose(t)
	for name, s := range p.Services {
		if isLogweave(s) && len(s.Profiles) == 0 {
			want = append(want, name+":9464")
		}
	}
	sort.Strings(scraped)
	sort.Strings(want)
	if strings.Join(scraped, " ") != strings.Join(want, " ") {
		t.Errorf("job logweave scrapes %v, want every logweave service %v", scraped, want)
	}
}

// staticGroups returns the addresses of a static_configs entry.
func staticGroups(sd discovery.Config) [][]string {
	st, ok := sd.(discovery.StaticConfig)
	if !ok {
		return nil
	}
	var out [][]string
	for _, g := range st {
		var addrs []string
		for _, tg := range g.Targets {
			addrs = append(addrs, string(tg[model.AddressLabel]))
		}
		out = append(out, addrs)
	}
	return out
}
