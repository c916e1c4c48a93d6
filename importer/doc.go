// Package importer moves a kit into the content store and activates it. It
// reads a kit from a tar stream, an OCI layout folder or any oras-go source,
// stores every blob once (hashing as it reads), checks the graph, the
// signature and the site's policy, indexes new vulnerability DB layers, and
// only then switches the active kit in one synced write.
//
// Nothing is activated before every digest and the signature check out. A
// failed check removes the blobs this import added; an interrupted import
// keeps them, so running it again does not transfer them twice. When a
// write finds no room (a full volume, a used-up quota or the file size
// limit), the import fails with an error wrapping errdef.ErrDiskFull, which
// blames the host, not the kit. It then removes the blobs it added, as the
// space check that runs before the layers are stored does, so that the
// store keeps room to open.
package importer
