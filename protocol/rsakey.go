package protocol

import (
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
)

// minRSABits is the smallest RSA key LoadRSAKey accepts.
const minRSABits = 2048

// LoadRSAKey reads the RSA private key of caching_sha2_password's full
// authentication without TLS from a PEM file (PKCS#1 "RSA PRIVATE KEY" or
// PKCS#8 "PRIVATE KEY"), of at least 2048 bits.
func LoadRSAKey(path string) (*rsa.PrivateKey, error) {
	raw, err := os.ReadFile(path) //nolint:gosec // an operator-given path
	if err != nil {
		return nil, err
	}
	block, _ := pem.Decode(raw)
	if block == nil {
		return nil, errors.New("no PEM block found")
	}
	var key *rsa.PrivateKey
	switch block.Type {
	case "RSA PRIVATE KEY":
		key, err = x509.ParsePKCS1PrivateKey(block.Bytes)
	case "PRIVATE KEY":
		var k any
		if k, err = x509.ParsePKCS8PrivateKey(block.Bytes); err == nil {
			var ok bool
			if key, ok = k.(*rsa.PrivateKey); !ok {
				err = fmt.Errorf("the key is a %T, not RSA", k)
			}
		}
	default:
		err = fmt.Errorf("PEM block %q: want RSA PRIVATE KEY or PRIVATE KEY", block.Type)
	}
	if err != nil {
		return nil, err
	}
	if bits := key.N.BitLen(); bits < minRSABits {
		return nil, fmt.Errorf("RSA key of %d bits: want %d or more", bits, minRSABits)
	}
	return key, nil
}
