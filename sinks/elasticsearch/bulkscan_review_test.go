package elasticsearch

import (
	"strings"
	"testing"
)

// TestDecodeBulkResponse_DeepNestingIsAnError: a response nested far deeper
// than any bulk response (a broken proxy) is an error, as encoding/json
// makes it (its nesting limit is 10000), and does not overflow the stack.
func TestDecodeBulkResponse_DeepNestingIsAnError(t *testing.T) {
	const depth = 20_000_000
	b := `{"took":` + strings.Repeat("[", depth) + strings.Repeat("]", depth) + `,"items":[]}`
	if _, err := decodeBulkResponse([]byte(b)); err == nil {
		t.Fatalf("a response nested %d deep decoded without error", depth)
	}
}
