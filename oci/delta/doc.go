// Package delta computes and describes kit deltas. A delta carries the
// unchanged signed bundle index of the new kit, every manifest, index and
// config the new kit reaches, and only the blobs its base kit lacks. A small
// signed delta manifest beside the bundle index names the base and lists the
// omitted blobs, so an importer can reject a delta whose base is absent
// before it stores anything, and importing a delta activates exactly the
// bundle digest that importing the full kit would.
package delta
