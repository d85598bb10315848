# Checks the object files of one instruction-set level's copy of the ops (src/fast/ops/,
# compiled with that level's flags) for what could leak its instructions into the rest of the
# program, where a CPU without that level would run them:
#   - a global or weak symbol outside the level's own namespace (e.g. an inline function of the
#     standard library or xsimd emitted out of line: the linker keeps one copy of each for the
#     whole program, possibly this level's);
#   - a static constructor (.init_array/.ctors), which would run at start-up on every CPU.
# Usage: cmake -DNM=nm -DOBJDUMP=objdump -DNAMESPACE=scratchcnn::fast::ops::isa_avx2::
#              "-DOBJECTS=a.o|b.o" -P check_isa_objects.cmake
foreach(var NM OBJDUMP NAMESPACE OBJECTS)
  if(NOT DEFINED ${var} OR "${${var}}" STREQUAL "")
    message(FATAL_ERROR "check_isa_objects: ${var} is not set")
  endif()
endforeach()
string(REPLACE "|" ";" objects "${OBJECTS}")
set(problems "")
set(symbols 0)
foreach(obj IN LISTS objects)
  execute_process(COMMAND "${NM}" -C --defined-only "${obj}" OUTPUT_VARIABLE out
                  RESULT_VARIABLE rc ERROR_VARIABLE err)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "check_isa_objects: ${NM} ${obj} failed: ${err}")
  endif()
  string(REPLACE "\n" ";" lines "${out}")
  foreach(line IN LISTS lines)
    if(NOT line MATCHES "^[0-9a-fA-F]* ([A-Za-z]) (.*)$")
      continue()
    endif()
    set(type "${CMAKE_MATCH_1}")
    set(name "${CMAKE_MATCH_2}")
    # Lower-case types are local symbols, except the weak ones (v, w) and unique globals (u).
    if(type MATCHES "^[a-z]$" AND NOT type MATCHES "^[vwu]$")
      continue()
    endif()
    math(EXPR symbols "${symbols} + 1")
    string(FIND "${name}" "${NAMESPACE}" at)
    # DW.ref.__gxx_personality_v0: a data pointer to the C++ runtime's personality routine.
    if(NOT at EQUAL 0 AND NOT name STREQUAL "DW.ref.__gxx_personality_v0")
      string(APPEND problems "  ${obj}: ${type} ${name}\n")
    endif()
  endforeach()
  execute_process(COMMAND "${OBJDUMP}" -h "${obj}" OUTPUT_VARIABLE sections RESULT_VARIABLE rc)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "check_isa_objects: ${OBJDUMP} -h ${obj} failed")
  endif()
  if(sections MATCHES "\\.(init_array|ctors)")
    string(APPEND problems "  ${obj}: has a static constructor section (.init_array/.ctors)\n")
  endif()
endforeach()
if(problems)
  message(FATAL_ERROR "symbols or constructors outside ${NAMESPACE}:\n${problems}")
endif()
if(symbols EQUAL 0)
  message(FATAL_ERROR "check_isa_objects: no global symbols found in ${OBJECTS}")
endif()
message(STATUS "${symbols} global symbols, all in ${NAMESPACE}; no static constructors")
