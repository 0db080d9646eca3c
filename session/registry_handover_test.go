package session

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// TestUnhandedExcept: sessions marked handing and those skip names are not
// counted; the others are.
func TestUnhandedExcept(t *testing.T) {
	r := NewRegistry()
	for id := uint32(1); id <= 3; id++ {
		r.add(&Session{id: id})
	}
	r.mu.byID[3].handing.Store(true)
	require.Equal(t, 2, r.Unhanded())
	require.Equal(t, 2, r.UnhandedExcept(func(uint32) bool { return false }))
	require.Equal(t, 1, r.UnhandedExcept(func(id uint32) bool { return id == 2 }), "2 is parked")
	require.Equal(t, 0, r.UnhandedExcept(func(id uint32) bool { return id <= 2 }))
}
