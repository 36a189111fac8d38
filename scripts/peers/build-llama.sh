#!/usr/bin/env bash
# Builds llama.cpp's own tools — llama-quantize, llama-embedding, llama-server (and the small
# llama-tokenize) — from the llama.cpp
# vendored in the llama-cpp-python sdist on PyPI, natively for this CPU.
#
#   scripts/peers/build-llama.sh
#
# Env: LLAMA_CPP_DIR (.tools/llama.cpp): the binaries go to $LLAMA_CPP_DIR/bin, the sdist,
# source and build folder under $LLAMA_CPP_DIR/src; LLAMA_CPP_PYTHON (0.3.36): the sdist's
# version; LLAMA_BUILD_JOBS (nproc). Idempotent: does nothing when the four binaries are there
# and were built from that version (FORCE=1 rebuilds).
#
# Needs python3 with venv + pip (PyPI reachable), a C/C++ compiler (Debian: build-essential,
# installed through scripts/lib/needs.sh where it is missing). cmake and ninja come from PyPI
# in a venv of their own ($LLAMA_CPP_DIR/build-venv). Built with -DGGML_NATIVE=ON (AVX-512
# VNNI on an Ice Lake server, AVX2 on Zen 3), no curl/openssl, no web UI download, no tests;
# only those tool targets are compiled.
set -euo pipefail
cd "$(dirname "$0")/../.."
. scripts/lib/needs.sh

version=${LLAMA_CPP_PYTHON:-0.3.36}
dir=${LLAMA_CPP_DIR:-.tools/llama.cpp}
mkdir -p "$dir"
dir=$(cd "$dir" && pwd)
bin=$dir/bin
tools=(llama-quantize llama-embedding llama-tokenize llama-server)

have_all() {
    local t
    for t in "${tools[@]}"; do [ -x "$bin/$t" ] || return 1; done
    [ "$(cat "$bin/.llama-cpp-python-version" 2>/dev/null)" = "$version" ]
}
if [ "${FORCE:-0}" != 1 ] && have_all; then
    echo "llama.cpp tools (llama-cpp-python $version) already in $bin"
    exit 0
fi

if ! need_cmd g++ && ! need_apt build-essential; then
    skip_or_fail "building llama.cpp" "apt-get install build-essential"
    exit 0
fi
need_cmd python3 || { skip_or_fail "building llama.cpp" "python3 with venv and pip"; exit 0; }

venv=$dir/build-venv
if ! "$venv/bin/cmake" --version >/dev/null 2>&1 || ! "$venv/bin/ninja" --version >/dev/null 2>&1; then
    echo "build-llama: cmake and ninja from PyPI into $venv" >&2
    python3 -m venv "$venv"
    # scikit-build-core: so that pip can read the sdist's metadata without building a
    # cmake from source in an isolated environment (what --no-binary :all: would do).
    "$venv/bin/pip" install -q cmake ninja scikit-build-core >&2
fi

src=$dir/src
mkdir -p "$src"
sdist=$src/llama_cpp_python-$version.tar.gz
if [ ! -f "$sdist" ]; then
    echo "build-llama: downloading the llama-cpp-python $version sdist from PyPI" >&2
    "$venv/bin/pip" download -q --no-binary :all: --no-deps --no-build-isolation \
        "llama-cpp-python==$version" -d "$src" >&2
fi
tree=$src/llama_cpp_python-$version
if [ ! -f "$tree/vendor/llama.cpp/CMakeLists.txt" ]; then
    tar -xzf "$sdist" -C "$src"
fi
llama=$tree/vendor/llama.cpp
build=$src/build-$version

export PATH=$venv/bin:$PATH
echo "build-llama: configuring $llama (GGML_NATIVE=ON)" >&2
cmake -S "$llama" -B "$build" -G Ninja \
    -DCMAKE_BUILD_TYPE=Release \
    -DGGML_NATIVE=ON \
    -DBUILD_SHARED_LIBS=OFF \
    -DLLAMA_OPENSSL=OFF \
    -DLLAMA_BUILD_TESTS=OFF \
    -DLLAMA_BUILD_EXAMPLES=ON \
    -DLLAMA_BUILD_TOOLS=ON \
    -DLLAMA_BUILD_SERVER=ON \
    -DLLAMA_BUILD_APP=OFF \
    -DLLAMA_BUILD_UI=OFF \
    -DLLAMA_USE_PREBUILT_UI=OFF \
    -DLLAMA_LLGUIDANCE=OFF >"$build.configure.log" 2>&1 ||
    { tail -30 "$build.configure.log" >&2; exit 1; }
# One tool at a time, each installed as soon as it links, so that the quick ones (quantize,
# embedding, tokenize: ggml + llama + common) are usable while the server (+ mtmd, httplib)
# still compiles. llama-tokenize comes along: it is small and tells where llama.cpp's tokens
# differ from Hugging Face's.
mkdir -p "$bin"
for t in llama-quantize llama-embedding llama-tokenize llama-server; do
    echo "build-llama: compiling $t (minutes; log: $build.log)" >&2
    cmake --build "$build" -j "${LLAMA_BUILD_JOBS:-$(nproc)}" --target "$t" >>"$build.log" 2>&1 ||
        { tail -30 "$build.log" >&2; exit 1; }
    install -m 755 "$build/bin/$t" "$bin/$t"
done
echo "$version" >"$bin/.llama-cpp-python-version"
"$bin/llama-quantize" --help >/dev/null 2>&1 || true
"$bin/llama-embedding" --version 2>&1 | head -2
echo "llama.cpp tools in $bin: ${tools[*]}"
