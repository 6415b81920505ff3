//go:build !unix

package file

import (
	"errors"
	"os"
)

var errLocked = errors.New("partition file locked by another writer")

// tryLock does nothing where flock is not available: writers then rely on
// the consumer group giving a partition to one member at a time.
func tryLock(*os.File) error { return nil }

func unlock(*os.File) error { return nil }
