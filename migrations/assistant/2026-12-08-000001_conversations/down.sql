DROP TABLE messages;
DROP TABLE assistant_actions;
DROP TABLE conversations;
