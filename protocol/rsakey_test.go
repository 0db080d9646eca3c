package protocol_test

import (
	"bytes"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"os"
	"path/filepath"
	"testing"

	"github.com/go-mysql-org/go-mysql/mysql"
	"github.com/go-mysql-org/go-mysql/server"
	"github.com/stretchr/testify/require"

	"github.com/rwproxy/rwproxy/protocol"
)

// publicKeyOf runs a caching_sha2_password login without TLS up to the
// server's public key and returns it (PEM).
func publicKeyOf(t *testing.T, srv *server.Server, auth *protocol.Auth) []byte {
	t.Helper()
	pc, finish := dialHandshake(t, srv, auth)
	defer finish()
	resp := handshakeResponse(handshakeCaps, "app", bytes.Repeat([]byte{7}, 32), "", mysql.AUTH_CACHING_SHA2_PASSWORD, attrsBlock())
	require.NoError(t, pc.WritePacket(append([]byte{0, 0, 0, 0}, resp...)))
	p, err := pc.ReadPacket()
	require.NoError(t, err)
	require.Equal(t, []byte{mysql.MORE_DATE_HEADER, 4}, p, "full authentication")
	require.NoError(t, pc.WritePacket([]byte{0, 0, 0, 0, 2})) // request the public key
	p, err = pc.ReadPacket()
	require.NoError(t, err)
	require.Equal(t, byte(mysql.MORE_DATE_HEADER), p[0])
	return p[1:]
}

// TestRSAKeyFile: with tls.rsa_key the public key clients get is the one of
// the file, the same for two servers (before, every start made a new key);
// bad files are refused.
func TestRSAKeyFile(t *testing.T) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	require.NoError(t, err)
	dir := t.TempDir()
	pkcs1 := filepath.Join(dir, "pkcs1.pem")
	require.NoError(t, os.WriteFile(pkcs1, pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)}), 0o600))
	der, err := x509.MarshalPKCS8PrivateKey(key)
	require.NoError(t, err)
	pkcs8 := filepath.Join(dir, "pkcs8.pem")
	require.NoError(t, os.WriteFile(pkcs8, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600))
	pubDER, err := x509.MarshalPKIXPublicKey(&key.PublicKey)
	require.NoError(t, err)
	want := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pubDER})

	auth := protocol.NewAuth(func(u string) (string, string, bool) {
		return "secret", mysql.AUTH_CACHING_SHA2_PASSWORD, u == "app"
	})
	for _, path := range []string{pkcs1, pkcs8} {
		k, err := protocol.LoadRSAKey(path)
		require.NoError(t, err, path)
		srv, err := protocol.NewSecureServerKey("8.0.36-test", nil, auth, k)
		require.NoError(t, err)
		require.Equal(t, string(want), string(publicKeyOf(t, srv, auth)), path)
	}

	small, err := rsa.GenerateKey(rand.Reader, 1024)
	require.NoError(t, err)
	bad := map[string][]byte{
		"small.pem":   pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(small)}),
		"nopem.pem":   []byte("not a key"),
		"cert.pem":    pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: []byte{1}}),
		"garbage.pem": pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: []byte{1, 2, 3}}),
	}
	for name, b := range bad {
		p := filepath.Join(dir, name)
		require.NoError(t, os.WriteFile(p, b, 0o600))
		_, err := protocol.LoadRSAKey(p)
		require.Error(t, err, name)
	}
	_, err = protocol.LoadRSAKey(filepath.Join(dir, "missing.pem"))
	require.Error(t, err)
}
