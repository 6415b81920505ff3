package replay

import (
	"fmt"
	"slices"
	"time"

	"github.com/logweave/logweave/router"
)

// JobName is the default name of a replay job into sink from from:
// "<sink>-<from in UTC as 20060102t150405z>", e.g. es-20270115t080000z. The
// same sink and start name the same job, so a rerun resumes it.
func JobName(sink string, from time.Time) string {
	return sink + "-" + from.UTC().Format("20060102t150405z")
}

// TargetRouter builds the router of a replay job from routes. With a target
// index (logweave replay --target-index), every route writes to index
// instead of its own, e.g. logweave-backfill-{kind}-{yyyy.MM.dd}; routes
// itself is left as it is.
func TargetRouter(routes router.Config, index string) (*router.Router, error) {
	if index != "" {
		routes.Routes = slices.Clone(routes.Routes)
		for i := range routes.Routes {
			routes.Routes[i].Index = index
		}
	}
	rt, err := router.New(routes)
	if err != nil && index != "" {
		return nil, fmt.Errorf("target index %q: %w", index, err)
	}
	return rt, err
}
