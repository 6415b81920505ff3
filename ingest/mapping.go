package ingest

import (
	"math"
	"strconv"
	"strings"

	v1 "github.com/logweave/logweave/schemas/logweave/v1"
)

// Resource attribute keys promoted to Resource fields, as the OpenTelemetry
// semantic conventions name them.
const (
	keyServiceName = "service.name"
	keyNamespace   = "k8s.namespace.name"
	keyPod         = "k8s.pod.name"
	keyNode        = "k8s.node.name"
	keyCluster     = "k8s.cluster.name"
	keyContainer   = "k8s.container.name"
)

// unknownService is the service of records that name none, as OpenTelemetry
// SDKs default it.
const unknownService = "unknown_service"

// resourceInfo is what one OTLP resource contributes to its records.
type resourceInfo struct {
	service  string
	resource *v1.Resource
	// attrs are the resource attributes left after promotion, searched for
	// submission keys after the record's own attributes.
	attrs []*v1.KeyValue
}

func newResourceInfo(attrs []*v1.KeyValue) resourceInfo {
	r := &v1.Resource{}
	service := takeString(&attrs, []string{keyServiceName})
	r.Namespace = takeString(&attrs, []string{keyNamespace})
	r.Pod = takeString(&attrs, []string{keyPod})
	r.Node = takeString(&attrs, []string{keyNode})
	r.Cluster = takeString(&attrs, []string{keyCluster})
	r.Container = takeString(&attrs, []string{keyContainer})
	r.Attributes = attrs
	if service == "" {
		service = unknownService
	}
	return resourceInfo{service: service, resource: r, attrs: attrs}
}

// submission moves the submission fields out of the record's attributes
// (or, failing that, reads them from the resource's) into a Submission.
func (k *Keys) submission(attrs *[]*v1.KeyValue, res []*v1.KeyValue) *v1.Submission {
	return k.fillSubmission(&v1.Submission{}, new(uint32), attrs, res)
}

// fillSubmission is submission into s, an empty Submission, with seq the
// place for its submission_seq.
func (k *Keys) fillSubmission(s *v1.Submission, seq *uint32, attrs *[]*v1.KeyValue, res []*v1.KeyValue) *v1.Submission {
	fromResource := func(keys []string) string {
		for _, key := range keys {
			if v, ok := v1.Attr(res, key); ok {
				return v.Text()
			}
		}
		return ""
	}
	get := func(keys []string) string {
		if s := takeString(attrs, keys); s != "" {
			return s
		}
		return fromResource(keys)
	}
	s.SubmitId = get(k.SubmitID)
	s.UserId = get(k.UserID)
	s.ProblemId = get(k.ProblemID)
	s.Lang = get(k.Lang)
	// An integer submission_seq (what SDKs send) is read as it is: the
	// text of an integer from 0 to MaxUint32 always parses back to it,
	// and writing that text cost an allocation per record (a fifth of
	// ingest's allocations).
	seqValue, _ := take(attrs, k.SubmissionSeq)
	if n, ok := seqValue.GetValue().(*v1.AnyValue_IntValue); ok && n.IntValue >= 0 && n.IntValue <= math.MaxUint32 {
		*seq = uint32(n.IntValue)
		s.SubmissionSeq = seq
	} else {
		seqText := seqValue.Text()
		if seqText == "" {
			seqText = fromResource(k.SubmissionSeq)
		}
		if seqText != "" {
			if n, err := strconv.ParseUint(strings.TrimSpace(seqText), 10, 32); err == nil {
				*seq = uint32(n)
				s.SubmissionSeq = seq
			} else {
				// Not a number: keep what the producer sent as an
				// attribute rather than dropping it.
				*attrs = append(*attrs, &v1.KeyValue{Key: k.SubmissionSeq[0], Value: strValue(seqText)})
			}
		}
	}
	if st := get(k.Stage); st != "" {
		s.Stage = v1.ParseStage(st)
		if s.Stage == v1.Stage_STAGE_UNSPECIFIED {
			*attrs = append(*attrs, &v1.KeyValue{Key: k.Stage[0], Value: strValue(st)})
		}
	}
	return s
}
