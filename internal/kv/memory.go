package kv

import (
	"bytes"
	"fmt"
	"sort"
	"sync"

	"stella-ops.org/ouk/internal/errdef"
)

// Memory is an in-memory Store for unit tests. The zero value is not usable;
// call NewMemory.
type Memory struct {
	mu   sync.RWMutex
	data map[string][]byte
}

// NewMemory returns an empty in-memory store.
func NewMemory() *Memory {
	return &Memory{data: make(map[string][]byte)}
}

// Get implements Store.
func (m *Memory) Get(key []byte) ([]byte, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	v, ok := m.data[string(key)]
	if !ok {
		return nil, fmt.Errorf("key %q: %w", key, errdef.ErrNotFound)
	}
	return bytes.Clone(v), nil
}

// Scan implements Store.
func (m *Memory) Scan(prefix []byte, fn func(key, value []byte) error) error {
	m.mu.RLock()
	keys := make([]string, 0, len(m.data))
	for k := range m.data {
		if bytes.HasPrefix([]byte(k), prefix) {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	values := make([][]byte, len(keys))
	for i, k := range keys {
		values[i] = m.data[k]
	}
	m.mu.RUnlock()

	for i, k := range keys {
		if err := fn([]byte(k), values[i]); err != nil {
			return err
		}
	}
	return nil
}

// NewBatch implements Store.
func (m *Memory) NewBatch() Batch {
	return &memoryBatch{store: m}
}

type memoryOp struct {
	key    string
	value  []byte
	delete bool
}

type memoryBatch struct {
	store *Memory
	ops   []memoryOp
}

func (b *memoryBatch) Set(key, value []byte) error {
	b.ops = append(b.ops, memoryOp{key: string(key), value: bytes.Clone(value)})
	return nil
}

func (b *memoryBatch) Delete(key []byte) error {
	b.ops = append(b.ops, memoryOp{key: string(key), delete: true})
	return nil
}

func (b *memoryBatch) Commit(bool) error {
	b.store.mu.Lock()
	defer b.store.mu.Unlock()
	for _, op := range b.ops {
		if op.delete {
			delete(b.store.data, op.key)
		} else {
			b.store.data[op.key] = op.value
		}
	}
	b.ops = nil
	return nil
}

func (b *memoryBatch) Close() error {
	b.ops = nil
	return nil
}
