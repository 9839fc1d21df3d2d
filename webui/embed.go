// Package webui holds the registry's web interface: plain HTML, CSS and
// JavaScript embedded in the binary, loaded from nowhere else.
package webui

import (
	"embed"
	"io/fs"
)

//go:embed static
var files embed.FS

// Static returns the UI's files, rooted at the static folder.
func Static() fs.FS {
	sub, err := fs.Sub(files, "static")
	if err != nil {
		panic(err) // the embedded folder is part of the build
	}
	return sub
}
