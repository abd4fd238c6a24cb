package api

import (
	"strings"
	"testing"
)

// FuzzParseKeys: any keys file either fails with an error or gives a
// table in which every key maps to a named account and every ledger key
// belongs to one of those accounts.
func FuzzParseKeys(f *testing.F) {
	for _, s := range []string{
		"sk-a alice\n", "# c\nsk-a alice a.key\nsk-b bob\n", `{"sk-a": "alice"}`,
		`{"sk-a": {"account": "alice", "ledger_key": "a.key"}, "sk-b": "bob"}`, `{"sk-a": {"account": ""}}`, "sk-a alice a.key b.key\n",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		k, err := ParseKeys(strings.NewReader(s))
		if err != nil {
			return
		}
		if k.Len() == 0 {
			t.Fatal("a keys file without keys was accepted")
		}
		accounts := map[string]bool{}
		for _, a := range k.Accounts() {
			if a == "" {
				t.Fatal("an empty account name")
			}
			accounts[a] = true
		}
		for a, file := range k.ledger {
			if !accounts[a] || file == "" {
				t.Fatalf("ledger key %q of account %q, accounts %v", file, a, accounts)
			}
		}
	})
}
