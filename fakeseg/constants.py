"""Values shared by models (checkpoint defaults) and data (preprocessing); neither imports the other."""
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
INPUT_SIZE = 256  # network input side; every face crop is resized to it (paper: 256 x 256)
CROP_SCALE = 2.0  # face box enlarged x2 around its centre (paper, Sec. 4.1)
