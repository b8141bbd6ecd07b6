# NVIDIA's libraries as pip wheels install them, for every Python interpreter on this machine.
#
# A bare GPU machine may hold cuBLAS, cuDNN and NCCL only as PyTorch's wheels, and not
# necessarily for the first `python3` on PATH (e.g. /usr/bin/python3 without torch beside
# /opt/torch/.venv/bin/python3 with it). The wheels' layout also changed with CUDA 13:
# nvidia-cublas 13 installs nvidia/cu13/{lib,include}, nvidia-cudnn-cu13 nvidia/cudnn/...,
# nvidia-nccl-cu13 nvidia/nccl/.... So every interpreter's site-packages/nvidia is searched
# for the files themselves, at any of those depths.
#
#   sfm_wheel_dirs_of(VAR file [file...])  VAR: the folders holding any of the files
#   SFM_WHEEL_SITES_SEARCHED               the nvidia/ folders searched (for messages)

set(_sfm_python_candidates "$ENV{SFM_PYTHON}" "$ENV{VIRTUAL_ENV}/bin/python3" "$ENV{CONDA_PREFIX}/bin/python3"
    /usr/bin/python3 /usr/local/bin/python3)
string(REPLACE ":" ";" _sfm_path_dirs "$ENV{PATH}")
foreach(_d IN LISTS _sfm_path_dirs)
  list(APPEND _sfm_python_candidates "${_d}/python3")
endforeach()
file(GLOB _sfm_venv_pythons /opt/*/bin/python3 /opt/*/.venv/bin/python3 /opt/conda/envs/*/bin/python3)
list(APPEND _sfm_python_candidates ${_sfm_venv_pythons})

set(SFM_WHEEL_SITES_SEARCHED "")
set(_sfm_seen_pythons "")
foreach(_py IN LISTS _sfm_python_candidates)
  if(NOT _py OR NOT EXISTS "${_py}" OR IS_DIRECTORY "${_py}")
    continue()
  endif()
  # A venv's python3 is a link to the system's: the same file, other site-packages. So the
  # interpreter is told apart by its path as called, not by the file it resolves to.
  if("${_py}" IN_LIST _sfm_seen_pythons)
    continue()
  endif()
  list(APPEND _sfm_seen_pythons "${_py}")
  execute_process(
    COMMAND "${_py}" -c "import site, sysconfig; p = sysconfig.get_paths(); print(';'.join([p['purelib'], p['platlib']] + list(getattr(site, 'getsitepackages', lambda: [])())))"
    OUTPUT_VARIABLE _sites RESULT_VARIABLE _rc ERROR_QUIET OUTPUT_STRIP_TRAILING_WHITESPACE TIMEOUT 20)
  if(NOT _rc EQUAL 0)
    continue()
  endif()
  foreach(_site IN LISTS _sites)
    if(EXISTS "${_site}/nvidia" AND NOT "${_site}/nvidia" IN_LIST SFM_WHEEL_SITES_SEARCHED)
      list(APPEND SFM_WHEEL_SITES_SEARCHED "${_site}/nvidia")
    endif()
  endforeach()
endforeach()
if(SFM_WHEEL_SITES_SEARCHED)
  message(STATUS "sfm: pip wheels of NVIDIA libraries searched: ${SFM_WHEEL_SITES_SEARCHED}")
else()
  set(SFM_WHEEL_SITES_SEARCHED "(no interpreter here has site-packages/nvidia)")
endif()

function(sfm_wheel_dirs_of var)
  set(_dirs "")
  foreach(_nv IN LISTS SFM_WHEEL_SITES_SEARCHED)
    if(NOT IS_DIRECTORY "${_nv}")
      continue()
    endif()
    foreach(_file IN LISTS ARGN)
      file(GLOB _hits "${_nv}/*/${_file}" "${_nv}/*/lib/${_file}" "${_nv}/*/lib64/${_file}"
           "${_nv}/*/include/${_file}")
      foreach(_h IN LISTS _hits)
        get_filename_component(_dir "${_h}" DIRECTORY)
        list(APPEND _dirs "${_dir}")
      endforeach()
    endforeach()
  endforeach()
  list(REMOVE_DUPLICATES _dirs)
  set(${var} "${_dirs}" PARENT_SCOPE)
endfunction()
