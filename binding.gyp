{
  "targets": [
    {
      "target_name": "strata_nvm",
      "sources": ["nvm/native/strata_nvm.cc", "nvm/native/crc32c.cc"],
      "cflags_cc": ["-O2", "-std=c++17", "-Wall", "-Wextra"]
    }
  ]
}
