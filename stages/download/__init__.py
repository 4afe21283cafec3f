"""The download stage: yt-dlp fetches a segment plus padding, ffmpeg trims it exactly."""
