# Channel, Listing, InboundEvent, ChannelOrder and PushAttempt arrive with the channel lanes.
