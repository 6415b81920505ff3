package elasticsearch

import (
	"bytes"
	"encoding/json"
	"fmt"
	"testing"
)

// decodeSlow is the encoding/json path alone, as the sink read responses
// before scanBulkStatuses.
func decodeSlow(b []byte) ([]bulkItemResult, error) {
	var br bulkResponse
	if err := json.NewDecoder(bytes.NewReader(b)).Decode(&br); err != nil {
		return nil, err
	}
	items := make([]bulkItemResult, len(br.Items))
	for i := range br.Items {
		items[i] = br.Items[i].result()
	}
	return items, nil
}

// sameAsSlow checks decodeBulkResponse against decodeSlow on b and says
// whether the scanner answered.
func sameAsSlow(t *testing.T, b []byte) bool {
	t.Helper()
	want, wantErr := decodeSlow(b)
	got, gotErr := decodeBulkResponse(b)
	if (wantErr == nil) != (gotErr == nil) {
		t.Fatalf("%q: error %v, encoding/json says %v", b, gotErr, wantErr)
	}
	if len(got) != len(want) {
		t.Fatalf("%q: %d items, encoding/json reads %d", b, len(got), len(want))
	}
	for i := range got {
		if got[i].Status != want[i].Status || (got[i].Error == nil) != (want[i].Error == nil) ||
			(got[i].Error != nil && *got[i].Error != *want[i].Error) {
			t.Fatalf("%q: item %d %+v, encoding/json reads %+v", b, i, got[i], want[i])
		}
	}
	_, fast := scanBulkStatuses(b, nil)
	return fast
}

func TestScanBulkStatuses_MatchesDecode(t *testing.T) {
	item := `{"create":{"_index":"i","_id":"a\"b\\u00e9","_shards":{"total":2,"successful":1,"failed":0},"_seq_no":-1.5e3,"x":[true,false,null,[],{}],"status":201}}`
	cases := []struct {
		body string
		fast bool
	}{
		{`{"took":30,"errors":false,"items":[` + item + `,` + item + `]}`, true},
		{` { "errors" : false , "items" : [ {"index":{"status":200}} ] } trailing`, true},
		{`{"items":[]}`, true},
		{`{}`, true},
		{`{"items":[{"create":{"status":201}}],"items":[{"create":{"status":500}},{"create":{"status":201}}]}`, true},
		{`{"errors":true,"items":[{"create":{"status":409,"error":{"type":"version_conflict_engine_exception","reason":"exists"}}}]}`, false},
		{`{"items":[{"create":{"status":201},"index":{"status":500}}]}`, false},
		{`{"items":[{"create":{"Status":500}}]}`, false},
		{`{"ITEMS":[]}`, false},
		{`{"items":[{"create":{"status":201,"ſtatus":500}}]}`, false}, // the long s folds to s in encoding/json
		{`{"items":[{"create":{"_shards_total_long_key":1,"status":201}}]}`, true},
		{`{"items":[{"create":{"status":201.0}}]}`, false},
		{`{"items":[{"create":{"status":"201"}}]}`, false},
		{`{"items":[{"create":{"status":null}}]}`, false},
		{`{"items":[{"create":{"status":0201}}]}`, false},
		{`{"items":null}`, false},
		{`{"errors":"no","items":[]}`, false},
		{`{"items":[{"create":{"status":201}}]`, false},
		{`{"items":[{"create":{"_id":"a` + "\x01" + `","status":201}}]}`, false},
		{`{"items":[{"create":{"_id":"\x","status":201}}]}`, false},
		{`{"items":[{"create":{"n":01,"status":201}}]}`, false},
		{`{"items":[{"create":{"n":-,"status":201}}]}`, false},
		{`{"items":[{"create":{"n":1.,"status":201}}]}`, false},
		{`{"items":[{"create":{"n":tru,"status":201}}]}`, false},
		{`{"items":[{"upsert":{"status":201}}]}`, false},
		{`[]`, false},
		{``, false},
	}
	for _, c := range cases {
		if fast := sameAsSlow(t, []byte(c.body)); fast != c.fast {
			t.Errorf("%q: scanner answered %v, want %v", c.body, fast, c.fast)
		}
	}
}

func FuzzScanBulkStatuses(f *testing.F) {
	f.Add([]byte(`{"took":3,"errors":false,"items":[{"create":{"_index":"i","_id":"x","status":201}}]}`))
	f.Add([]byte(`{"errors":true,"items":[{"create":{"status":429,"error":{"type":"es_rejected_execution_exception","reason":"queue"}}}]}`))
	f.Add([]byte(`{"items":[{"index":{"_shards":{"total":1},"n":[1,-2.5e-3,"\u00e9\n"],"status":200}}]}`))
	f.Add([]byte(fmt.Sprintf(`{"items":[{"delete":{"status":%d}}]}`, 404)))
	f.Fuzz(func(t *testing.T, b []byte) { sameAsSlow(t, b) })
}
