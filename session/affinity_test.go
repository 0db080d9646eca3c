package session

import "testing"

func TestAffinitySlots(t *testing.T) {
	var a affinity
	if _, kept := a.slot(20); kept {
		t.Fatal("an empty affinity keeps a server")
	}
	s20, _ := a.slot(20)
	s20.hg, s20.addr = 20, "r1:3306"
	s10, kept := a.slot(10)
	if kept || s10 == s20 {
		t.Fatalf("hostgroup 10 got hostgroup 20's slot (kept %v)", kept)
	}
	s10.hg, s10.addr = 10, "w:3306"
	if s, kept := a.slot(20); !kept || s.addr != "r1:3306" {
		t.Fatalf("hostgroup 20: %+v kept %v", s, kept)
	}
	// A third hostgroup takes a slot over but is not told it keeps anything.
	s30, kept := a.slot(30)
	if kept {
		t.Fatalf("hostgroup 30 keeps %+v", s30)
	}
	s30.hg, s30.addr = 30, "r9:3306"
	if s, kept := a.slot(30); !kept || s.addr != "r9:3306" {
		t.Fatalf("hostgroup 30: %+v kept %v", s, kept)
	}
}
