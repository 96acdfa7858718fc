# A pipeline is imported as SPACE/NAME.
tofu import paved_pipeline.web shop/web
