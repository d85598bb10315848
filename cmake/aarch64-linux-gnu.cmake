# Cross-compiling for aarch64 Linux with Debian's g++-aarch64-linux-gnu (scripts/setup.sh
# --cross-aarch64), e.g. cmake -S . -B build-aarch64 -DCMAKE_TOOLCHAIN_FILE=cmake/aarch64-linux-gnu.cmake.
# The libraries come from Debian's arm64 multiarch packages (/usr/lib/aarch64-linux-gnu) and the
# cross toolchain's sysroot; executables run under QEMU's user-mode emulator, so that CMake (and
# gtest_discover_tests, ctest) can run what it builds.
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR aarch64)
set(CMAKE_C_COMPILER aarch64-linux-gnu-gcc)
set(CMAKE_CXX_COMPILER aarch64-linux-gnu-g++)
set(CMAKE_LIBRARY_ARCHITECTURE aarch64-linux-gnu)
set(CMAKE_CROSSCOMPILING_EMULATOR qemu-aarch64 -L /usr/aarch64-linux-gnu)
