package registryapp

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"
)

// Bucket names of the registry database.
var (
	bucketMeta    = []byte("meta")
	bucketServers = []byte("servers")
	bucketHistory = []byte("tool_history")
)

var keySchemaVersion = []byte("schema_version")

// schemaVersion is the layout of the database this code writes.
const schemaVersion = "1"

// store is the durable home of server records: a bbolt file whose every
// committed write is fsynced before the API answers.
type store struct {
	db *bolt.DB
}

// openStore opens (creating if needed) the bbolt file at path. A file
// locked by another process fails after one second with a clear error.
func openStore(path string) (*store, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("creating directory of registry database: %w", err)
	}
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: time.Second})
	if errors.Is(err, berrors.ErrTimeout) {
		return nil, fmt.Errorf("opening registry database %s: locked by another process (is another caddy running with the same storage?)", path)
	}
	if err != nil {
		return nil, fmt.Errorf("opening registry database %s: %w", path, err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		for _, b := range [][]byte{bucketMeta, bucketServers, bucketHistory} {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return fmt.Errorf("creating bucket %s: %w", b, err)
			}
		}
		meta := tx.Bucket(bucketMeta)
		switch v := meta.Get(keySchemaVersion); {
		case v == nil:
			return meta.Put(keySchemaVersion, []byte(schemaVersion))
		case string(v) != schemaVersion:
			return fmt.Errorf("registry database has schema version %s; this build reads version %s", v, schemaVersion)
		}
		return nil
	})
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("initialising registry database %s: %w", path, err)
	}
	return &store{db: db}, nil
}

// loadAll reads every server record.
func (s *store) loadAll() ([]*Server, error) {
	var out []*Server
	err := s.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketServers).ForEach(func(k, v []byte) error {
			var srv Server
			if err := json.Unmarshal(v, &srv); err != nil {
				return fmt.Errorf("decoding server %q: %w", k, err)
			}
			out = append(out, &srv)
			return nil
		})
	})
	return out, err
}

// put writes records in one transaction and removes the records under
// the keys in remove.
func (s *store) put(servers []*Server, remove []string) error {
	return s.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketServers)
		for _, k := range remove {
			if err := b.Delete([]byte(k)); err != nil {
				return fmt.Errorf("deleting server %s: %w", k, err)
			}
			if err := tx.Bucket(bucketHistory).Delete([]byte(k)); err != nil {
				return fmt.Errorf("deleting history of %s: %w", k, err)
			}
		}
		for _, srv := range servers {
			v, err := json.Marshal(srv)
			if err != nil {
				return fmt.Errorf("encoding server %s: %w", srv.Path, err)
			}
			if err := b.Put([]byte(pathKey(srv.Path)), v); err != nil {
				return fmt.Errorf("writing server %s: %w", srv.Path, err)
			}
		}
		return nil
	})
}

// backup writes a consistent copy of the whole database to w while
// writers carry on.
func (s *store) backup(w io.Writer) (int64, error) {
	var n int64
	err := s.db.View(func(tx *bolt.Tx) error {
		var err error
		n, err = tx.WriteTo(w)
		return err
	})
	return n, err
}

// appendToolHistory adds a change to the tool history of the server under
// key, keeping the newest max entries.
func (s *store) appendToolHistory(key string, change ToolChange, max int) error {
	return s.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketHistory)
		var history []ToolChange
		if v := b.Get([]byte(key)); v != nil {
			if err := json.Unmarshal(v, &history); err != nil {
				return fmt.Errorf("decoding tool history of %s: %w", key, err)
			}
		}
		history = append([]ToolChange{change}, history...)
		if len(history) > max {
			history = history[:max]
		}
		v, err := json.Marshal(history)
		if err != nil {
			return fmt.Errorf("encoding tool history of %s: %w", key, err)
		}
		return b.Put([]byte(key), v)
	})
}

// toolHistory returns the tool history of the server under key, newest
// first.
func (s *store) toolHistory(key string) ([]ToolChange, error) {
	history := []ToolChange{}
	err := s.db.View(func(tx *bolt.Tx) error {
		v := tx.Bucket(bucketHistory).Get([]byte(key))
		if v == nil {
			return nil
		}
		if err := json.Unmarshal(v, &history); err != nil {
			return fmt.Errorf("decoding tool history of %s: %w", key, err)
		}
		return nil
	})
	return history, err
}

func (s *store) close() error { return s.db.Close() }
