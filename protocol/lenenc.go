package protocol

// Bounds-checked length-encoded integer and string decoding. go-mysql's
// mysql.LengthEncodedInt / LengthEncodedString index past the end of a
// truncated buffer (a panic on a malformed packet from a broken or hostile
// peer); these report ok=false instead.

// lenEncInt decodes a length-encoded integer at the start of b and returns
// its value and encoded size.
func lenEncInt(b []byte) (v uint64, n int, ok bool) {
	if len(b) == 0 {
		return 0, 0, false
	}
	switch b[0] {
	case 0xfb: // NULL
		return 0, 1, true
	case 0xfc:
		n = 3
	case 0xfd:
		n = 4
	case 0xfe:
		n = 9
	case 0xff:
		return 0, 0, false
	default:
		return uint64(b[0]), 1, true
	}
	if len(b) < n {
		return 0, 0, false
	}
	for i := n - 1; i >= 1; i-- {
		v = v<<8 | uint64(b[i])
	}
	return v, n, true
}

// LenEncInt is lenEncInt for other packages (the session's query
// attributes); 0xfb (NULL) decodes as 0.
func LenEncInt(b []byte) (v uint64, n int, ok bool) { return lenEncInt(b) }

// lenEncString decodes a length-encoded string at the start of b and
// returns it (aliasing b) and its encoded size.
func lenEncString(b []byte) (s []byte, n int, ok bool) {
	l, k, ok := lenEncInt(b)
	if !ok || uint64(len(b)-k) < l {
		return nil, 0, false
	}
	end := k + int(l)
	return b[k:end], end, true
}
