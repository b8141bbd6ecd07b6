# Fuzz targets for the parsers of train/ and eval/ (included by tests/fuzz/CMakeLists.txt). The
# parsing functions live in OpenCV-free files, compiled here into one library: the text formats
# of a formatted data set (eval/data_layout.cpp), KITTI calibration, OXTS and velodyne files
# (train/kitti/kitti_raw.cpp, eval/kitti_depth_gt.cpp), image-file completeness (eval/image_bytes.cpp),
# the training config (train/config.cpp) and KITTI trajectory files (eval/kitti_trajectory.cpp, with
# the pose helpers of eval/pose_metrics.cpp it uses).
add_library(sfm_fuzz_parsers STATIC
  ${CMAKE_SOURCE_DIR}/eval/data_layout.cpp ${CMAKE_SOURCE_DIR}/train/kitti/kitti_raw.cpp
  ${CMAKE_SOURCE_DIR}/eval/kitti_depth_gt.cpp ${CMAKE_SOURCE_DIR}/eval/image_bytes.cpp
  ${CMAKE_SOURCE_DIR}/train/config.cpp ${CMAKE_SOURCE_DIR}/eval/kitti_trajectory.cpp
  ${CMAKE_SOURCE_DIR}/eval/pose_metrics.cpp)
target_include_directories(sfm_fuzz_parsers PUBLIC ${CMAKE_SOURCE_DIR})
target_link_libraries(sfm_fuzz_parsers PUBLIC sfm_models)
foreach(t cam_txt poses split_list calib oxts velodyne config image_bytes kitti_trajectory)
  sfm_fuzz_target(${t} sfm_fuzz_parsers)
endforeach()
