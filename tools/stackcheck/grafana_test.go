package stackcheck

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// provisionedUIDs reads the datasource uids Grafana is provisioned with.
func provisionedUIDs(t *testing.T) map[string]string {
	t.Helper()
	var prov struct {
		Datasources []struct {
			UID  string `yaml:"uid"`
			Type string `yaml:"type"`
		} `yaml:"datasources"`
	}
	if err := yaml.Unmarshal(repoFile(t, "deploy/grafana/provisioning/datasources/logweave.yaml"), &prov); err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, d := range prov.Datasources {
		out[d.UID] = d.Type
	}
	return out
}

type dsRef struct {
	Type string `json:"type"`
	UID  string `json:"uid"`
}

type dashboard struct {
	UID           string `json:"uid"`
	Title         string `json:"title"`
	SchemaVersion int    `json:"schemaVersion"`
	Panels        []struct {
		ID         int             `json:"id"`
		Type       string          `json:"type"`
		Title      string          `json:"title"`
		GridPos    *map[string]int `json:"gridPos"`
		Datasource *dsRef          `json:"datasource"`
		Targets    []struct {
			Datasource *dsRef  `json:"datasource"`
			RefID      string  `json:"refId"`
			Expr       string  `json:"expr"`
			Query      *string `json:"query"`
		} `json:"targets"`
	} `json:"panels"`
	Templating struct {
		List []struct {
			Name       string `json:"name"`
			Type       string `json:"type"`
			Datasource *dsRef `json:"datasource"`
		} `json:"list"`
	} `json:"templating"`
}

func loadDashboards(t *testing.T) map[string]dashboard {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(root, "deploy/grafana/dashboards/*.json"))
	if len(files) < 2 {
		t.Fatalf("%d dashboards, want pipeline health and one submission", len(files))
	}
	out := map[string]dashboard{}
	for _, f := range files {
		b, _ := os.ReadFile(f)
		dec := json.NewDecoder(strings.NewReader(string(b)))
		var d dashboard
		if err := dec.Decode(&d); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		out[filepath.Base(f)] = d
	}
	return out
}

func TestGrafana_DashboardsValidAndOnProvisionedDatasources(t *testing.T) {
	uids := provisionedUIDs(t)
	check := func(where string, ds *dsRef) {
		if ds == nil {
			t.Errorf("%s: no datasource", where)
			return
		}
		if typ, ok := uids[ds.UID]; !ok || typ != ds.Type {
			t.Errorf("%s: datasource %+v is not provisioned (have %v)", where, *ds, uids)
		}
	}
	seen := map[string]bool{}
	for file, d := range loadDashboards(t) {
		if d.UID == "" || d.Title == "" || d.SchemaVersion < 36 || len(d.Panels) == 0 {
			t.Errorf("%s: uid %q title %q schemaVersion %d panels %d", file, d.UID, d.Title, d.SchemaVersion, len(d.Panels))
		}
		if seen[d.UID] {
			t.Errorf("%s: uid %s used twice", file, d.UID)
		}
		seen[d.UID] = true
		ids := map[int]bool{}
		for _, p := range d.Panels {
			where := file + ": panel " + p.Title
			if p.ID == 0 || ids[p.ID] || p.Type == "" || p.Title == "" || p.GridPos == nil {
				t.Errorf("%s: id %d (unique, non-zero), type %q, gridPos %v", where, p.ID, p.Type, p.GridPos)
			}
			ids[p.ID] = true
			check(where, p.Datasource)
			for _, tg := range p.Targets {
				check(where+" target "+tg.RefID, tg.Datasource)
			}
		}
		for _, v := range d.Templating.List {
			if v.Type == "query" {
				check(file+": variable "+v.Name, v.Datasource)
			}
		}
	}
	for _, uid := range []string{"logweave-pipeline", "logweave-submission"} {
		if !seen[uid] {
			t.Errorf("no dashboard with uid %s", uid)
		}
	}
}

func TestGrafana_QueriesUseRealMetrics(t *testing.T) {
	metrics := roleMetrics(t)
	n := 0
	for file, d := range loadDashboards(t) {
		for _, p := range d.Panels {
			for _, tg := range p.Targets {
				if tg.Datasource == nil || tg.Datasource.Type != "prometheus" {
					continue
				}
				expr := strings.ReplaceAll(tg.Expr, "$__rate_interval", "5m")
				sels, err := selectors(t, expr)
				if err != nil {
					t.Errorf("%s: panel %s: %v", file, p.Title, err)
					continue
				}
				for name, labels := range sels {
					n++
					if err := checkSelector(metrics, name, labels); err != nil {
						t.Errorf("%s: panel %s: %v", file, p.Title, err)
					}
				}
			}
		}
	}
	if n < 20 {
		t.Errorf("only %d metric selectors in the dashboards", n)
	}
}

func TestGrafana_OneSubmissionVariables(t *testing.T) {
	d := loadDashboards(t)["one-submission.json"]
	vars := map[string]bool{}
	for _, v := range d.Templating.List {
		vars[v.Name] = true
	}
	for _, v := range []string{"submit", "user_id", "seq", "submit_id"} {
		if !vars[v] {
			t.Errorf("one-submission has no variable %s", v)
		}
	}
	var loki, es bool
	for _, p := range d.Panels {
		for _, tg := range p.Targets {
			loki = loki || (tg.Datasource.Type == "loki" && strings.Contains(tg.Expr, `submit_id="$submit_id"`))
			es = es || (tg.Datasource.Type == "elasticsearch" && tg.Query != nil && strings.Contains(*tg.Query, `submit_id:"$submit_id"`))
		}
	}
	if !loki || !es {
		t.Errorf("one-submission: Loki lines by submit_id %v, Elasticsearch table by submit_id %v", loki, es)
	}
}
