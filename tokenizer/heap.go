package tokenizer

// pushHeap adds b to the binary heap q ordered by before (the root is the
// element no other comes before) and returns the grown heap. Both merge
// algorithms keep their candidate pairs in such a heap; a type-specific
// comparison keeps the hot loop free of interface calls.
func pushHeap[T any](q []T, b T, before func(a, b *T) bool) []T {
	q = append(q, b)
	i := len(q) - 1
	for i > 0 {
		p := (i - 1) / 2
		if !before(&q[i], &q[p]) {
			break
		}
		q[i], q[p] = q[p], q[i]
		i = p
	}
	return q
}

// popHeap removes and returns the root of the non-empty heap q.
func popHeap[T any](q []T, before func(a, b *T) bool) (T, []T) {
	top := q[0]
	last := len(q) - 1
	q[0] = q[last]
	q = q[:last]
	i := 0
	for {
		l := 2*i + 1
		if l >= len(q) {
			break
		}
		m := l
		if r := l + 1; r < len(q) && before(&q[r], &q[l]) {
			m = r
		}
		if !before(&q[m], &q[i]) {
			break
		}
		q[i], q[m] = q[m], q[i]
		i = m
	}
	return top, q
}
