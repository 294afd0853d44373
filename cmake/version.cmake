# Writes version.h with the git revision at build time (not configure time, which goes stale).
# Rewrites the file only when the revision changed, so unchanged builds recompile nothing.
# Usage: cmake -DSOURCE_DIR=... -DOUTPUT=.../version.h -DVERSION=x.y.z -P version.cmake
execute_process(COMMAND git -C ${SOURCE_DIR} rev-parse --short=12 HEAD
                OUTPUT_VARIABLE revision OUTPUT_STRIP_TRAILING_WHITESPACE ERROR_QUIET RESULT_VARIABLE rc)
if(NOT rc EQUAL 0 OR NOT revision)
  # Builds without .git (the Dockerfile's build stage) pass it in: docker build --build-arg BPFEX_REVISION=...
  set(revision "$ENV{BPFEX_REVISION}")
endif()
if(NOT revision)
  set(revision unknown)
endif()
file(WRITE ${OUTPUT}.tmp "#pragma once\n#define BPFEX_VERSION \"${VERSION}\"\n#define BPFEX_REVISION \"${revision}\"\n")
file(COPY_FILE ${OUTPUT}.tmp ${OUTPUT} ONLY_IF_DIFFERENT)
