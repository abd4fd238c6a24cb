package ledger

import (
	"reflect"
	"testing"
)

// FuzzParseGenesis: a genesis file is handed from operator to operator;
// any bytes either fail to parse or give a valid genesis that survives
// MarshalGenesis and ParseGenesis unchanged (every validator of a chain
// must read the same genesis from the same file).
func FuzzParseGenesis(f *testing.F) {
	dev, err := MarshalGenesis(DevGenesis("tessera-dev"))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(dev)
	f.Add([]byte(`{"chain_id":""}`))
	f.Add([]byte(`{"chain_id":"x","accounts":[{"balance":18446744073709551615},{"balance":1}]}`))
	f.Add([]byte(`[]`))
	f.Fuzz(func(t *testing.T, b []byte) {
		g, err := ParseGenesis(b)
		if err != nil {
			return
		}
		re, err := MarshalGenesis(g)
		if err != nil {
			t.Fatalf("a parsed genesis does not encode: %v", err)
		}
		g2, err := ParseGenesis(re)
		if err != nil {
			t.Fatalf("a parsed genesis, re-encoded, fails: %v\n%s", err, re)
		}
		if !reflect.DeepEqual(g, g2) {
			t.Fatalf("genesis changed through encode/parse:\n%+v\n%+v", g, g2)
		}
	})
}
