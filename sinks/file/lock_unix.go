//go:build unix

package file

import (
	"errors"
	"os"
	"syscall"
)

// errLocked says another writer (another process, or another sink in this
// one) holds the partition's lock.
var errLocked = errors.New("partition file locked by another writer")

// tryLock takes an exclusive advisory lock on f without waiting. flock
// locks belong to the open file description, so two opens in one process
// exclude each other too.
func tryLock(f *os.File) error {
	err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
	if errors.Is(err, syscall.EWOULDBLOCK) {
		return errLocked
	}
	return err
}

func unlock(f *os.File) error {
	return syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
}
