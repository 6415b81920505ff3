package logweavev1

import "google.golang.org/protobuf/proto"

// UnsafeMessage is a logweave record with a generated zero-copy decoder
// (*_vtunsafe.pb.go, protoc-gen-go-vtproto's unmarshal_unsafe feature).
type UnsafeMessage interface {
	Message
	UnmarshalVTUnsafe([]byte) error
}

// UnmarshalUnsafe is Unmarshal whose strings and bytes fields point into
// b instead of being copied: about half the allocations of a decode. The
// verdicts are Unmarshal's (the same wire check first; anything unusual
// is decoded by proto.Unmarshal, which copies).
//
// The decoded record is valid only while b is neither modified nor
// reused, and any string or bytes kept from it keeps all of b in memory:
// use it only where nothing outlives b's owner (a sink's batch of Kafka
// records, whose values it holds anyway), and clone (strings.Clone,
// bytes.Clone) what must be kept beyond that.
func UnmarshalUnsafe(b []byte, m UnsafeMessage) error {
	if checkWire(b, tableFor(m), 0) && m.UnmarshalVTUnsafe(b) == nil {
		return nil
	}
	proto.Reset(m)
	return proto.Unmarshal(b, m)
}
