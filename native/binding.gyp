{
  "targets": [
    {
      "target_name": "flashback_native",
      "sources": ["flashback.c", "crypto.c", "listing.c", "walk.c", "index.c", "chunker.c"],
      "defines": ["NAPI_VERSION=8", "_GNU_SOURCE"],
      "cflags_c": ["-std=gnu11", "-Wall", "-Wextra", "-Wno-unused-parameter"]
    }
  ]
}
