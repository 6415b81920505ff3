package enrich

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// metaVersion starts the offset-commit metadata the enricher writes with
// every raw partition's watermark.
const metaVersion = "lw1:"

// commitMeta is the offset-commit metadata of one raw partition:
//
//	lw1:e=<scan from>,t=<enriched end>,x=<moved below>[,l=<links from>]
//
// e is the enriched offset from which a new owner that resumes at the
// watermark finds every record already out whose raw record it will read
// again. t is the enriched offset the partition's read-committed end
// reaches once the transaction that wrote this metadata is complete: on a
// multi-broker Kafka the markers of __consumer_offsets and of the data
// partitions are written separately, so a new owner waits for t before it
// scans. x is the raw offset below which misrouted and undecodable records
// were already moved (re-produced to their partition or to the DLQ), so a
// re-read does not move them twice. l, when present, is the raw offset of
// the oldest trace link still in use below the watermark: a new owner reads
// the links from there, so that a context-only record the previous owner
// moved on arrival is recognised as moved. Older metadata ("lw1:e=N") has
// only e.
type commitMeta struct {
	scanFrom    int64 // e
	enrichedEnd int64 // t; -1 when unknown
	movedBelow  int64 // x; -1 when unknown
	linksFrom   int64 // l; -1 when none
}

func (m commitMeta) String() string {
	var b strings.Builder
	b.WriteString(metaVersion)
	b.WriteString("e=")
	b.WriteString(strconv.FormatInt(m.scanFrom, 10))
	if m.enrichedEnd >= 0 {
		b.WriteString(",t=")
		b.WriteString(strconv.FormatInt(m.enrichedEnd, 10))
	}
	if m.movedBelow >= 0 {
		b.WriteString(",x=")
		b.WriteString(strconv.FormatInt(m.movedBelow, 10))
	}
	if m.linksFrom >= 0 {
		b.WriteString(",l=")
		b.WriteString(strconv.FormatInt(m.linksFrom, 10))
	}
	return b.String()
}

// errNoMeta says the metadata was not written by an enricher (empty, or
// another tool's): nothing is known to be out.
var errNoMeta = errors.New("no enricher commit metadata")

// parseCommitMeta reads metadata written by commitMeta.String. Unknown keys
// are ignored so that a later version can add some.
func parseCommitMeta(s string) (commitMeta, error) {
	m := commitMeta{scanFrom: -1, enrichedEnd: -1, movedBelow: -1, linksFrom: -1}
	rest, ok := strings.CutPrefix(s, metaVersion)
	if !ok {
		return m, errNoMeta
	}
	for _, kv := range strings.Split(rest, ",") {
		k, v, ok := strings.Cut(kv, "=")
		if !ok {
			return m, fmt.Errorf("parsing commit metadata %q: %q is not key=value", s, kv)
		}
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 0 {
			return m, fmt.Errorf("parsing commit metadata %q: %s is not an offset", s, k)
		}
		switch k {
		case "e":
			m.scanFrom = n
		case "t":
			m.enrichedEnd = n
		case "x":
			m.movedBelow = n
		case "l":
			m.linksFrom = n
		}
	}
	if m.scanFrom < 0 {
		return m, fmt.Errorf("parsing commit metadata %q: no e=", s)
	}
	return m, nil
}
