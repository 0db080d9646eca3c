package replay

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"

	"github.com/go-mysql-org/go-mysql/mysql"

	"github.com/rwproxy/rwproxy/protocol"
)

var errParams = errors.New("replay: malformed parameter block")

// decodeParams turns a captured COM_STMT_EXECUTE parameter block (null
// bitmap, bound flag, types, values) of n parameters into arguments for
// the client's Execute. types are the ones bound by an earlier execute of
// the statement, used when the block does not bind any; the types the
// block binds are returned for the next one.
func decodeParams(b []byte, n int, types []byte) ([]any, []byte, error) {
	if n == 0 {
		return nil, types, nil
	}
	nb := (n + 7) / 8
	if len(b) < nb+1 {
		return nil, nil, errParams
	}
	bitmap, bound := b[:nb], b[nb] == 1
	b = b[nb+1:]
	if bound {
		if len(b) < 2*n {
			return nil, nil, errParams
		}
		types, b = append([]byte(nil), b[:2*n]...), b[2*n:]
	}
	if len(types) < 2*n {
		return nil, nil, errParams
	}
	args := make([]any, n)
	for i := range args {
		if bitmap[i/8]&(1<<(i%8)) != 0 {
			continue
		}
		v, rest, err := decodeValue(types[2*i], types[2*i+1]&0x80 != 0, b)
		if err != nil {
			return nil, nil, fmt.Errorf("parameter %d: %w", i+1, err)
		}
		args[i], b = v, rest
	}
	return args, types, nil
}

// decodeValue decodes one binary-protocol value of type t.
func decodeValue(t byte, unsigned bool, b []byte) (any, []byte, error) {
	need := func(n int) error {
		if len(b) < n {
			return errParams
		}
		return nil
	}
	switch t {
	case mysql.MYSQL_TYPE_NULL:
		return nil, b, nil
	case mysql.MYSQL_TYPE_TINY:
		if err := need(1); err != nil {
			return nil, nil, err
		}
		if unsigned {
			return uint64(b[0]), b[1:], nil
		}
		return int64(int8(b[0])), b[1:], nil
	case mysql.MYSQL_TYPE_SHORT, mysql.MYSQL_TYPE_YEAR:
		if err := need(2); err != nil {
			return nil, nil, err
		}
		v := binary.LittleEndian.Uint16(b)
		if unsigned {
			return uint64(v), b[2:], nil
		}
		return int64(int16(v)), b[2:], nil
	case mysql.MYSQL_TYPE_LONG, mysql.MYSQL_TYPE_INT24:
		if err := need(4); err != nil {
			return nil, nil, err
		}
		v := binary.LittleEndian.Uint32(b)
		if unsigned {
			return uint64(v), b[4:], nil
		}
		return int64(int32(v)), b[4:], nil
	case mysql.MYSQL_TYPE_LONGLONG:
		if err := need(8); err != nil {
			return nil, nil, err
		}
		v := binary.LittleEndian.Uint64(b)
		if unsigned {
			return v, b[8:], nil
		}
		return int64(v), b[8:], nil
	case mysql.MYSQL_TYPE_FLOAT:
		if err := need(4); err != nil {
			return nil, nil, err
		}
		return float64(math.Float32frombits(binary.LittleEndian.Uint32(b))), b[4:], nil
	case mysql.MYSQL_TYPE_DOUBLE:
		if err := need(8); err != nil {
			return nil, nil, err
		}
		return math.Float64frombits(binary.LittleEndian.Uint64(b)), b[8:], nil
	case mysql.MYSQL_TYPE_DATE, mysql.MYSQL_TYPE_DATETIME, mysql.MYSQL_TYPE_TIMESTAMP:
		if err := need(1); err != nil || need(1+int(b[0])) != nil {
			return nil, nil, errParams
		}
		return formatDateTime(b[1 : 1+int(b[0])]), b[1+int(b[0]):], nil
	case mysql.MYSQL_TYPE_TIME:
		if err := need(1); err != nil || need(1+int(b[0])) != nil {
			return nil, nil, errParams
		}
		return formatTime(b[1 : 1+int(b[0])]), b[1+int(b[0]):], nil
	}
	l, k, ok := protocol.LenEncInt(b)
	if !ok || uint64(len(b)-k) < l {
		return nil, nil, errParams
	}
	return string(b[k : k+int(l)]), b[k+int(l):], nil
}

func formatDateTime(d []byte) string {
	var y, mo, da, h, mi, s, us int
	if len(d) >= 4 {
		y, mo, da = int(binary.LittleEndian.Uint16(d)), int(d[2]), int(d[3])
	}
	if len(d) >= 7 {
		h, mi, s = int(d[4]), int(d[5]), int(d[6])
	}
	if len(d) >= 11 {
		us = int(binary.LittleEndian.Uint32(d[7:]))
	}
	return fmt.Sprintf("%04d-%02d-%02d %02d:%02d:%02d.%06d", y, mo, da, h, mi, s, us)
}

func formatTime(d []byte) string {
	if len(d) < 8 {
		return "00:00:00"
	}
	sign := ""
	if d[0] == 1 {
		sign = "-"
	}
	days := int(binary.LittleEndian.Uint32(d[1:]))
	us := 0
	if len(d) >= 12 {
		us = int(binary.LittleEndian.Uint32(d[8:]))
	}
	return fmt.Sprintf("%s%02d:%02d:%02d.%06d", sign, days*24+int(d[5]), d[6], d[7], us)
}
